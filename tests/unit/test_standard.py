import pytest
from creditflow.core import standard


def test_field_dictionaries_load():
    assert len(standard.fields("penalty")) == 30
    assert len(standard.fields("license")) == 28
    assert standard.field_map("coercion")["QZ_WSH"].always_required
    with pytest.raises(ValueError):
        standard.fields("reward")


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("CF_WSH", "CF_WSH"),
        ("cf_wsh ", "CF_WSH"),
        ("行政处罚决定书文号", "CF_WSH"),
        ("行政相对人代码_1(统一社会信用代码)", "CF_XDR_SHXYM"),
        ("行政相对人代码_1（统一社会信用代码）", "CF_XDR_SHXYM"),
        (" 行政相对人代码_1 （统一社会信用代码） ", "CF_XDR_SHXYM"),
        ("统一社会信用代码", "CF_XDR_SHXYM"),
        ("罚款金额（万元）", "CF_NR_FK"),
        ("罚款金额", "CF_NR_FK"),
        ("CF_FR_SFZH", "CF_FR_ZJHM"),
        ("CF_XDR_GSDJ", "CF_XDR_GSZC"),
        ("\ufeffCF_XDR_MC", "CF_XDR_MC"),
    ],
)
def test_penalty_headers(header, code):
    assert standard.map_headers("penalty", [header]) == {0: code}


def test_license_aliases_do_not_leak_penalty_codes():
    assert standard.map_headers("license", ["CF_WSH", "XK_FR_SFZH", "许可决定日期"]) == {
        1: "XK_FR_ZJHM", 2: "XK_JDRQ"}


def test_guess_kind():
    assert standard.guess_kind(["行政处罚决定书文号", "处罚类别", "行政相对人名称"]) == "penalty"
    assert standard.guess_kind(["XK_WSH", "XK_XKLB", "XK_XDR_MC"]) == "license"
    assert standard.guess_kind(["a", "b"]) is None


def test_enum_values():
    assert "罚款" in standard.enum_values("CF_CFLB")
    assert "自然人" in standard.enum_values("XK_XDR_LB")
    assert "扣押财物" in standard.enum_values("QZ_CSLX")
