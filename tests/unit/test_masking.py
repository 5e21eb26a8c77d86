"""The one masking rule (creditflow.common.mask_text / mask_id): what must be masked, what must not."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from creditflow.common import contains_unmasked_id, mask_id, mask_text

ID = "440402199001010014"
ID_X = "44042219900101001X"
OLD_ID = "440402900101001"  # first-generation, 15 digits
M_ID = "4404**********0014"
M_ID_X = "4404**********001X"
M_OLD = "4404*******1001"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"身份证号{ID}", f"身份证号{M_ID}"),  # no word boundary between 号 and the digits
        (f"{ID}为其身份证号", f"{M_ID}为其身份证号"),
        (f"当事人李四（身份证号码：{ID}）", f"当事人李四（身份证号码：{M_ID}）"),
        (f"ID:{ID};", f"ID:{M_ID};"),
        (f"“{ID}”", f"“{M_ID}”"),
        (f"[{ID}]", f"[{M_ID}]"),
        (f"{ID}\t{ID}\n", f"{M_ID}\t{M_ID}\n"),
        (f"DOC〔2026〕1号|{ID}", f"DOC〔2026〕1号|{M_ID}"),  # a natural key
        (f"district_file:{ID}", f"district_file:{M_ID}"),
        (f"李四{ID}张三", f"李四{M_ID}张三"),
        (f"号码Ａ{ID}Ｂ", f"号码Ａ{M_ID}Ｂ"),  # full-width letters are not ASCII letters
        (ID, M_ID),
    ],
)
def test_id_numbers_in_text_are_masked(text, expected):
    assert mask_text(text) == expected
    assert "19900101" not in mask_text(text)


def test_several_ids_lowercase_x_and_old_ids_in_one_string():
    text = f"甲{ID}、乙{ID_X.lower()}，丙{OLD_ID}；丁{ID_X}"
    assert mask_text(text) == f"甲{M_ID}、乙{M_ID_X.lower()}，丙{M_OLD}；丁{M_ID_X}"
    assert not contains_unmasked_id(mask_text(text))


@pytest.mark.parametrize(
    "text",
    ["身份证号４４０４０２１９９００１０１００１４", "４４０４２２１９９００１０１００１Ｘ", "４４０４２２１９９００１０１００１ｘ",
     "４４０４０２199001010014", "号码４４０４０２９００１０１００１"],
)
def test_full_width_digits_are_masked(text):
    masked = mask_text(text)
    assert not contains_unmasked_id(masked)
    # independent of the module's own detector: the birth date is gone in either width
    assert "１９９００１０１" not in masked and "19900101" not in masked and "９００１０１" not in masked
    assert masked.count("*") in (10, 7)
    assert len(masked) == len(text)


@pytest.mark.parametrize(
    "text",
    [
        "12345678901234567890",  # 20 digits: longer than any ID
        "1234567890123456789",  # 19 digits (a bank card number)
        "6222021234567890",  # 16 digits
        "62220212345678901",  # 17 digits
        "91230500MA1B3N1N2M",  # USCC samples with letters
        "11230500001755309F",
        "91440400MA4UABCD1N",
        "92440400MA4UABCD9C",
        "统一社会信用代码：91440400MA4UABCD1N",
        "罚款人民币20000.00元",
        "罚款0.2万元，没收违法所得123456789012.5元",
        "2026-11-27",
        "13800138000",  # a mobile number
        "珠应急罚〔2026〕12号",
        "a3f44402199001010014b2c9",  # digits inside a hex digest stay intact (glued to ASCII letters)
        "",
    ],
)
def test_non_ids_are_not_masked(text):
    assert mask_text(text) == text


def test_an_all_digit_code_of_id_shape_is_masked_conservatively():
    # A USCC whose organisation code and check character are digits has the shape of an ID number: the
    # rule masks by shape, never by plausibility, so a real ID with a typo in its date is masked too.
    assert mask_text("12440400455858565X") == "1244**********565X"
    assert mask_text(f"{ID[:6]}19901301{ID[-4:]}") == M_ID


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, ""), (440402199001010014, M_ID), (10**5000, None), (float("nan"), "nan"), (pd.NA, "<NA>")],
    ids=["None", "int", "huge-int", "nan", "NA"],
)
def test_mask_text_takes_any_value(value, expected):
    masked = mask_text(value)
    if expected is not None:
        assert masked == expected
    else:  # 5001 digits: no ID, and no ValueError from Python's int-to-str limit
        assert masked.startswith("1000") and len(masked) == 5001


def test_mask_text_is_idempotent():
    text = f"身份证号{ID}，旧号{OLD_ID}"
    assert mask_text(mask_text(text)) == mask_text(text)


def test_mask_id_keeps_four_and_four():
    assert mask_id(ID) == M_ID
    assert mask_id("12345678") == "********"
    assert mask_id("123456789") == "1234*6789"
    assert mask_id(None) == ""
    assert mask_id(10**5000).startswith("1000*")


def test_id_glued_to_ascii_letters():
    assert "19900101" not in mask_text(f"sfz{ID}")
    assert "19900101" not in mask_text(f"{ID}abc") and "19900101" not in mask_text(f"id:{ID}X1")


def test_id_written_in_groups():
    assert "19900101" not in mask_text("440402 19900101 0014")
    assert "19900101" not in mask_text("证件号：440402-19900101-0014。")


def test_findings_never_quote_an_id_number():
    """A clerk pastes an ID into the wrong column: the finding's detail quotes the value, masked."""
    from creditflow.reporting import validation as v

    row = {"CF_XDR_MC": "李四", "CF_XDR_LB": "自然人", "CF_XDR_ZJLX": ID, "CF_XDR_ZJHM": ID, "CF_JDRQ": ID}
    found = v.with_messages(v.validate_pandas(pd.DataFrame([row]), "penalty", dt.date(2026, 11, 27)), "penalty")
    assert {"ENUM", "DATE_FORMAT"} <= set(found["rule_id"])
    for text in [*found["detail"], *found["message_zh"]]:
        assert not contains_unmasked_id(text), text
        assert "19900101" not in text, text  # not only by the module's own detector


def test_opaque_tokens_survive_masking_where_hex_digests_do_not():
    """Form tokens and review keys pass through the pages' masking: written in hex, one digest in a few
    hundred holds an ID-shaped run of digits and its form post would fail (the flaky CSRF test of stop 14).
    Letters only can never be masked."""
    import hashlib

    from creditflow.common import opaque_token

    digests = [hashlib.sha256(str(i).encode()).digest() for i in range(5000)]
    assert any(mask_text(d.hex()) != d.hex() for d in digests)  # the defect is real for hex
    for d in digests:
        token = opaque_token(d)
        assert len(token) == 64 and set(token) <= set("abcdefghijklmnop") and mask_text(token) == token
    assert len({opaque_token(d) for d in digests}) == len(digests)  # one-to-one
