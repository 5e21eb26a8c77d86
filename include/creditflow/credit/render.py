"""Render a stored document (:mod:`.documents`) to DOCX (python-docx) or PDF, in Chinese,
A4, laid out after GB/T 9704 (title centred, number under it, body in 3号 size, seal line bottom right).

The PDF is drawn on the project's one PDF layer (:mod:`creditflow.core.pdf`): its Chinese font embedded
(no font needs to be installed where the PDF is printed), its line wrapper (no punctuation at a line start).
"""

from __future__ import annotations

import io
from typing import Any

from creditflow.core import pdf as layer
from creditflow.core.pdf import wrap
from creditflow.credit.documents import date_zh

MARGINS_MM = {"top": 37.0, "bottom": 35.0, "left": 28.0, "right": 26.0}
BODY_PT = 15.0
TITLE_PT = 20.0
LINE = 1.75  # line height in body sizes


def _lines_of(content: dict[str, Any]) -> list[tuple[str, str]]:
    """The document as (style, text) lines: title, docno, addressee, para, heading, item, closing, sign."""
    out: list[tuple[str, str]] = [("title", content["title"]), ("docno", content["doc_no"])]
    for label, value in content.get("party_lines", []):
        out.append(("party", f"{label}：{value}"))
    out.append(("addressee", f"{content['addressee']}："))
    out += [("para", p) for p in content.get("paragraphs", [])]
    for block in content.get("lists", []):
        out.append(("heading", block["heading"]))
        out += [("item", f"（{i}）{text}") for i, text in enumerate(block["items"], 1)]
    out += [("para", c) for c in content.get("closing", [])]
    out.append(("sign", content["authority"]))
    out.append(("sign", date_zh(content["issued_on"])))
    return out


# --- DOCX --------------------------------------------------------------------------------------------------


def to_docx(content: dict[str, Any]) -> bytes:
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Mm, Pt

    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(MARGINS_MM["top"]), Mm(MARGINS_MM["bottom"])
    section.left_margin, section.right_margin = Mm(MARGINS_MM["left"]), Mm(MARGINS_MM["right"])

    def run(par: Any, text: str, size: float, font: str, bold: bool = False) -> None:
        r = par.add_run(text)
        r.font.size = Pt(size)
        r.font.bold = bold
        r.font.name = font
        r._element.rPr.rFonts.set(qn("w:eastAsia"), font)

    for style, text in _lines_of(content):
        par = doc.add_paragraph()
        fmt = par.paragraph_format
        fmt.space_after = Pt(2)
        if style == "title":
            par.alignment = WD_ALIGN_PARAGRAPH.CENTER
            run(par, text, 22, "方正小标宋简体")
        elif style == "docno":
            par.alignment = WD_ALIGN_PARAGRAPH.CENTER
            fmt.space_after = Pt(14)
            run(par, text, 16, "仿宋_GB2312")
        elif style == "sign":
            par.alignment = WD_ALIGN_PARAGRAPH.RIGHT
            run(par, text, 16, "仿宋_GB2312")
        elif style == "heading":
            fmt.first_line_indent = Pt(32)
            run(par, text, 16, "黑体")
        else:
            if style in ("para", "item"):
                fmt.first_line_indent = Pt(32)
            run(par, text, 16, "仿宋_GB2312")
    buf = io.BytesIO()
    doc.core_properties.title = f"{content['title']}（{content['doc_no']}）"
    doc.core_properties.author = content["authority"]
    doc.save(buf)
    return buf.getvalue()


# --- PDF ----------------------------------------------------------------------------------------------------


def to_pdf(content: dict[str, Any]) -> bytes:
    width_in, height_in = layer.A4
    mm = 1 / 25.4
    left, right = MARGINS_MM["left"] * mm / width_in, 1 - MARGINS_MM["right"] * mm / width_in
    top, bottom = 1 - MARGINS_MM["top"] * mm / height_in, MARGINS_MM["bottom"] * mm / height_in
    ems = (right - left) * width_in * 72 / BODY_PT
    step = BODY_PT * LINE / 72 / height_in
    buf = io.BytesIO()
    with layer.document(buf, f"{content['title']}（{content['doc_no']}）", author=content["authority"]) as pdf:
        fig = layer.page()
        y = top
        page = 1

        def new_page() -> Any:
            nonlocal fig, y, page
            fig.text(0.5, bottom / 2, f"— {page} —", ha="center", fontsize=10)
            pdf.savefig(fig)
            fig, y, page = layer.page(), top, page + 1

        for style, text in _lines_of(content):
            if style == "title":
                for line in wrap(text, (right - left) * width_in * 72 / TITLE_PT):
                    fig.text(0.5, y, line, ha="center", va="top", fontsize=TITLE_PT)
                    y -= TITLE_PT * 1.6 / 72 / height_in
                continue
            if style in ("docno", "sign"):
                x, ha = (0.5, "center") if style == "docno" else (right - 2 * BODY_PT / 72 / width_in, "right")
                if style == "sign" and text.startswith(content["authority"]):
                    y -= step
                fig.text(x, y, text, ha=ha, va="top", fontsize=BODY_PT)
                y -= step * (1.4 if style == "docno" else 1)
                continue
            indent = 2.0 if style in ("para", "item", "heading") else 0.0
            for i, line in enumerate(wrap(text, ems, indent)):
                if y < bottom:
                    new_page()
                x = left + (indent * BODY_PT / 72 / width_in if i == 0 else 0)
                fig.text(x, y, line, ha="left", va="top", fontsize=BODY_PT)
                y -= step
        new_page()
    return buf.getvalue()


def render(content: dict[str, Any], fmt: str) -> tuple[bytes, str]:
    """(bytes, media type) of a document in ``docx`` or ``pdf``."""
    if fmt == "docx":
        return to_docx(content), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    if fmt == "pdf":
        return to_pdf(content), "application/pdf"
    raise ValueError(f"unknown format {fmt!r}: docx or pdf")
