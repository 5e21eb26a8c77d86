"""Validation answers a clerk can read (#18.4): fields by their Chinese names, and no "return to the page" for a
program calling the API (plugins/creditflow_ui/errors.py)."""

from __future__ import annotations

from creditflow_ui.errors import validation_message
from fastapi.exceptions import RequestValidationError


def _invalid(*errors: tuple[tuple, str]) -> RequestValidationError:
    return RequestValidationError([{"loc": loc, "type": kind, "msg": "x", "input": None} for loc, kind in errors])


def test_fields_are_named_in_chinese_not_by_their_code():
    exc = _invalid((("body", "review_key"), "string_pattern_mismatch"), (("body", "level"), "int_parsing"),
                   (("body", "kind"), "missing"))
    message = validation_message(exc)
    assert message == ("提交的内容不完整或格式不对：审核记录标识格式不对；审核层级应为整数；类别缺少。"
                       "请返回页面重新填写。")


def test_an_api_answer_does_not_send_a_program_back_to_a_page():
    exc = _invalid((("query", "code", 0), "string_too_long"), (("body", "unheard_of"), "missing"))
    message = validation_message(exc, api=True)
    assert message == "提交的内容不完整或格式不对：统一社会信用代码或身份证号码太长；字段 unheard_of缺少。"
    assert "请返回页面" not in message
