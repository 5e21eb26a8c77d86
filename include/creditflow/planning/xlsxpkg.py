"""A small, fast, deterministic XLSX (SpreadsheetML) writer for plain tables.

The plan writes over a million cells at 50,000 enterprises; openpyxl spends ~20 s of CPU on that, this
writer about a tenth. It writes only what the plan needs — text (inline strings), numbers, column
widths, one default style — and every byte depends only on the content: fixed zip entry times, fixed
document times, entries in a fixed order.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_STYLES = (f'{_HEAD}<styleSheet xmlns="{_NS}"><fonts count="1"><font><sz val="11"/><name val="等线"/></font></fonts>'
           '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/>'
           '</fill></fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
           '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
           '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>'
           '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>')


def column_letter(n: int) -> str:
    """1 → A, 27 → AA."""
    out = ""
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(65 + r) + out
    return out


def _cell(ref: str, value: Any) -> str:
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int | float):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    text = _ILLEGAL.sub("", str(value))
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f'<c r="{ref}" t="inlineStr"><is><t{space}>{escape(text)}</t></is></c>'


def sheet_xml(rows: Iterable[list[Any]], widths: list[int] | None = None) -> str:
    parts = [f'{_HEAD}<worksheet xmlns="{_NS}">']
    if widths:
        parts.append("<cols>" + "".join(f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>'
                                        for i, w in enumerate(widths, 1)) + "</cols>")
    parts.append("<sheetData>")
    letters = [column_letter(i) for i in range(1, 65)]
    for r, row in enumerate(rows, 1):
        cells = "".join(_cell(f"{letters[c] if c < 64 else column_letter(c + 1)}{r}", v)
                        for c, v in enumerate(row) if v is not None and v != "")
        parts.append(f'<row r="{r}">{cells}</row>')
    parts.append("</sheetData></worksheet>")
    return "".join(parts)


class Workbook:
    """Sheets in the order added; :meth:`save` writes the package."""

    def __init__(self, title: str = "", creator: str = "creditflow", stamp: dt.datetime | None = None):
        self.title, self.creator = title, creator
        self.stamp = (stamp or dt.datetime(2000, 1, 1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.sheets: list[tuple[str, str]] = []

    def add_sheet(self, name: str, rows: Iterable[list[Any]], widths: list[int] | None = None) -> None:
        if len(name) > 31 or any(c in name for c in "[]:*?/\\"):
            raise ValueError(f"not a sheet name: {name!r}")
        self.sheets.append((name, sheet_xml(rows, widths)))

    def _parts(self) -> list[tuple[str, str]]:
        n = len(self.sheets)
        types = "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
                        f'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>' for i in range(1, n + 1))
        content_types = (
            f'{_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            '<Override PartName="/docProps/core.xml" ContentType="application/'
            f'vnd.openxmlformats-package.core-properties+xml"/>{types}</Types>')
        root_rels = (
            f'{_HEAD}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/'
            'core-properties" Target="docProps/core.xml"/></Relationships>')
        core = (
            f'{_HEAD}<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/'
            'core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f'<dc:title>{escape(self.title)}</dc:title><dc:creator>{escape(self.creator)}</dc:creator>'
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{self.stamp}</dcterms:created>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{self.stamp}</dcterms:modified></cp:coreProperties>')
        sheets = "".join(f'<sheet name="{escape(name, {chr(34): "&quot;"})}" sheetId="{i}" r:id="rId{i}"/>'
                         for i, (name, _) in enumerate(self.sheets, 1))
        workbook = (f'{_HEAD}<workbook xmlns="{_NS}" xmlns:r="{_REL}"><sheets>{sheets}</sheets></workbook>')
        rels = "".join(f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
                       for i in range(1, n + 1))
        wb_rels = (f'{_HEAD}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                   f'{rels}<Relationship Id="rId{n + 1}" Type="{_REL}/styles" Target="styles.xml"/></Relationships>')
        parts = [("[Content_Types].xml", content_types), ("_rels/.rels", root_rels), ("docProps/core.xml", core),
                 ("xl/workbook.xml", workbook), ("xl/_rels/workbook.xml.rels", wb_rels), ("xl/styles.xml", _STYLES)]
        return parts + [(f"xl/worksheets/sheet{i}.xml", xml) for i, (_, xml) in enumerate(self.sheets, 1)]

    def save(self, path: str | Path) -> Path:
        out = Path(path)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
            for name, text in self._parts():
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o600 << 16
                z.writestr(info, text.encode("utf-8"))
        return out
