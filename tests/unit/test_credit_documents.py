"""The written documents render, in Chinese, ready to print: the DOCX opens with python-docx and the PDF
converts with pdftoppm; both carry their key fields (number, party, dates, periods, basis, rights), and
a resident ID number only masked."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import subprocess

import pytest
import sqlalchemy as sa
from creditflow.common import contains_unmasked_id
from creditflow.core import warehouse as wh
from creditflow.credit import documents, render, rules

D = dt.date
CASE = {"case_id": "SX-art7_1-D1", "situation_id": "art7_1", "party_key": "440402199001010014", "party_type": "自然人",
        "party_name": "李四", "facts": "你（单位）未取得危险化学品经营许可证从事危险化学品经营。",
        "basis": "《安全生产严重失信主体名单管理办法》第七条第（一）项；《危险化学品安全管理条例》第七十七条",
        "notice_delivered_on": "2026-02-13", "list_start": "2026-03-02", "list_end": "2029-03-02",
        "removed_on": "2027-03-10"}


@pytest.fixture(scope="module")
def issued(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('docs')}/wh.sqlite"
    engine = wh.engine_from_url(url)
    wh.upgrade(engine)
    pen = {"party_name": "珠海宏达化工有限公司", "party_type": "法人及非法人组织", "party_key": "91440400MA4UABCD1N",
           "doc_no": "珠应急罚〔2026〕0012号", "decision_date": "2026-03-31", "categories": "罚款"}
    with engine.begin() as conn:
        docs = {
            "list_notice": documents.issue(conn, "list_notice", CASE["case_id"], D(2026, 2, 12),
                                           documents.list_notice_body(CASE, D(2026, 2, 12))),
            "list_decision": documents.issue(conn, "list_decision", CASE["case_id"], D(2026, 3, 2),
                                             documents.list_decision_body({**CASE, "notice_doc_no": "珠应急失信告〔2026〕1号"},
                                                                          D(2026, 3, 2), [])),
            "removal_decision": documents.issue(conn, "removal_decision", CASE["case_id"], D(2027, 3, 10),
                                                documents.removal_body(CASE, {"received_on": "2027-03-05", "checks": "[]"},
                                                                       D(2027, 3, 10))),
            "removal_revocation": documents.issue(conn, "removal_revocation", CASE["case_id"], D(2027, 6, 1),
                                                  documents.revocation_body(CASE, "缴款凭证系伪造", D(2027, 6, 1))),
            "repair_notice": documents.issue(conn, "repair_notice", "case_db:D1", D(2026, 3, 31),
                                             documents.repair_notice_body(pen, rules.publicity(D(2026, 3, 31), ["罚款"],
                                                                                               "法人及非法人组织"))),
        }
        again = documents.issue(conn, "list_notice", "SX-x", D(2026, 5, 1), documents.list_notice_body(CASE, D(2026, 5, 1)))
        loaded = {k: documents.load(conn, v["doc_id"]) for k, v in docs.items()}
    engine.dispose()
    assert again["doc_no"] == "珠应急失信告〔2026〕2号"  # numbered per type and year
    return loaded


KEYS = {
    "list_notice": ["珠应急失信告〔2026〕1号", "陈述、申辩", "5个工作日", "第七条第（一）项", "管理期限为3年"],
    "list_decision": ["珠应急失信决〔2026〕1号", "2026年3月2日起至2029年3月2日止", "提前移出", "满12个月", "行政复议",
                      "20个工作日内通过", "信用承诺书"],
    "removal_decision": ["珠应急失信移〔2027〕1号", "2027年3月10日", "移出"],
    "removal_revocation": ["珠应急失信撤〔2027〕1号", "缴款凭证系伪造", "2029年3月2日"],
    # Decided 2026-03-31 (Order 58, 1–3 years). 民法典 art. 201: the periods start the next day; art. 202: they end
    # on 2027-03-31 and 2029-03-31; art. 203: 2029-03-31 is a Saturday, so the last day is Monday 2029-04-02;
    # repair may be requested from the day after the minimum period, 2027-04-01.
    "repair_notice": ["珠应急信修告〔2026〕1号", "珠应急罚〔2026〕0012号", "自2026年4月1日起至2027年3月31日止",
                      "2029年4月2日", "即自2027年4月1日起可申请信用修复", "第58号", "信用承诺", "两书同达"],
}


@pytest.mark.parametrize("doc_type", list(KEYS))
def test_docx_opens_and_carries_its_key_fields(issued, doc_type):
    from docx import Document

    doc = issued[doc_type]
    text = "\n".join(p.text for p in Document(io.BytesIO(render.to_docx(doc["body"]))).paragraphs)
    assert documents.TITLES[doc_type] in text
    for key in KEYS[doc_type]:
        assert key in text, (doc_type, key)
    assert not contains_unmasked_id(text) and not contains_unmasked_id(doc["content"])
    if doc["body"]["party_lines"][1][0] == "身份证号码":
        assert "4404**********0014" in text


@pytest.mark.skipif(not shutil.which("pdftoppm"), reason="poppler-utils (pdftoppm) not installed")
@pytest.mark.parametrize("doc_type", ["list_decision", "repair_notice"])
def test_pdf_pages_convert_and_carry_their_key_fields(issued, doc_type, tmp_path):
    pdf = tmp_path / f"{doc_type}.pdf"
    pdf.write_bytes(render.to_pdf(issued[doc_type]["body"]))
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(pdf), str(tmp_path / "page")], check=True, timeout=60)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert 1 <= len(pages) <= 3
    from PIL import Image

    for page in pages:
        with Image.open(page) as img:
            assert img.size[0] < img.size[1]  # A4 portrait
            assert img.convert("L").getextrema()[0] < 100  # not blank: there is dark text
    text = subprocess.run(["pdftotext", "-raw", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    flat = "".join(text.split())
    for key in KEYS[doc_type]:
        assert "".join(key.split()) in flat, (doc_type, key)
    assert not contains_unmasked_id(text)


def test_a_document_is_sealed_and_reprints_identically(issued):
    doc = issued["repair_notice"]
    import hashlib

    assert hashlib.sha256(doc["content"].encode()).hexdigest() == doc["sha256"]
    assert render.to_docx(doc["body"])[:2] == b"PK"
    assert doc["body"]["fields"] == {"regime": "ndrc_order_58", "class": "safety_production", "published": True,
                                     "publicity_min_until": "2027-03-31", "publicity_max_until": "2029-04-02",
                                     "earliest_repair": "2027-04-01"}
    with pytest.raises(ValueError):
        render.render(doc["body"], "odt")


def test_wrap_keeps_punctuation_off_the_line_start():
    lines = render.wrap("甲" * 27 + "，乙", 28)
    assert lines[0].endswith("，") and not lines[1].startswith("，")
    assert sa is not None  # keep the import for the fixture's engine
