"""Reading district submissions: XLSX or CSV (UTF-8 with or without BOM, or GB18030), headers as field
codes or Chinese names (full- or half-width brackets, stray spaces). Used by the pipeline and by
``creditflow check`` so that both read a file the same way.

The sheet is streamed (openpyxl read-only, one row at a time). A public caller (区县自查) passes
:class:`ReadLimits`: reading stops after that many data rows, cells or characters and the submission is
marked ``truncated`` — what was read is checked, the rest never held in memory. The pipeline reads
without limits, as before.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from creditflow.core import standard


class UnreadableSubmission(ValueError):
    """The file cannot be read as a submission; the message is for the clerk (Chinese)."""


class SubmissionIOError(OSError):
    """A transient failure to read a submission (not the submission's fault): retry later."""


@dataclass
class Submission:
    path: Path
    kind: str
    columns: dict[int, str]  # column index → field code
    unknown_headers: list[str]
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (spreadsheet row no., values)
    encoding: str = ""
    truncated: bool = False  # a ReadLimits bound stopped the reading: the file has more than ``rows``


@dataclass(frozen=True)
class ReadLimits:
    """Bounds on what one read may hold: data rows kept, spreadsheet lines scanned (blank ones included:
    a sheet can claim a million empty rows), columns per row, and characters in the kept cells (one shared
    string of 32,767 characters can fill every cell of a sheet)."""

    rows: int
    columns: int = 200
    scanned: int = 50_000
    chars: int = 20_000_000


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise UnreadableSubmission("文件编码无法识别（应为UTF-8或GB18030）") from exc


def _dimensions_before_data(self: Any) -> tuple[int, int, int, int] | None:
    """openpyxl's ``WorkSheetParser.parse_dimensions`` looks for ``<dimension>`` until ``<sheetData>`` *ends*:
    a sheet written without one (allowed; Excel writes it, other tools may not) is parsed to its last row
    before its first row is read — 30 s and all its rows for the largest sheet the self-check lets through.
    The schema puts ``<dimension>`` before ``<sheetData>``: stop where ``<sheetData>`` starts."""
    from openpyxl.worksheet._reader import DATA_TAG, DIMENSION_TAG, SheetDimension, iterparse

    for _event, element in iterparse(self.source, events=("start",)):
        if element.tag == DIMENSION_TAG:
            return SheetDimension.from_tree(element).boundaries  # type: ignore[no-any-return]
        if element.tag == DATA_TAG:
            return None
    return None


def _load_workbook(path: Path) -> Any:
    from unittest import mock

    from openpyxl import load_workbook
    from openpyxl.worksheet._reader import WorkSheetParser

    with mock.patch.object(WorkSheetParser, "parse_dimensions", _dimensions_before_data):
        return load_workbook(path, read_only=True, data_only=True)


def _read_table(path: Path, max_col: int | None = None) -> tuple[Iterator[list[Any]], str]:
    """The sheet's rows, lazily (the workbook is closed when the iterator is exhausted or closed)."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        try:
            wb = _load_workbook(path)
        except OSError:
            raise  # the disk or share failed, not the file: the caller retries (see SubmissionIOError)
        except Exception as exc:
            raise UnreadableSubmission(f"Excel文件已损坏或不是xlsx格式（{type(exc).__name__}）") from None

        def rows() -> Iterator[list[Any]]:
            try:
                ws = wb.worksheets[0]
                for r in ws.iter_rows(values_only=True, max_col=max_col):
                    yield list(r)
            except (OSError, MemoryError):
                raise
            except Exception as exc:  # the sheet's XML is broken part-way (the workbook itself opened)
                raise UnreadableSubmission(f"Excel文件内容已损坏，无法读取（{type(exc).__name__}）") from None
            finally:
                wb.close()

        return rows(), "xlsx"
    if suffix in (".csv", ".txt"):
        text, enc = _decode(path.read_bytes())
        if "\x00" in text:
            raise UnreadableSubmission("CSV文件包含二进制内容，无法读取")
        try:
            dialect = csv.Sniffer().sniff(text[:4096], delimiters=",\t;")
        except csv.Error:
            dialect = csv.excel  # type: ignore[assignment]

        def lines() -> Iterator[list[Any]]:
            try:
                for r in csv.reader(io.StringIO(text), dialect):
                    yield r[:max_col] if max_col else r
            except csv.Error as exc:
                raise UnreadableSubmission("CSV文件格式有误，无法读取（引号不成对或单元格过长）") from exc

        return lines(), enc
    if suffix == ".xls":
        raise UnreadableSubmission("不支持旧版.xls格式，请另存为.xlsx或.csv后重新报送")
    raise UnreadableSubmission(f"不支持的文件类型“{suffix}”，请报送.xlsx或.csv文件")


def _blank(row: list[Any]) -> bool:
    return not any(c not in (None, "") and str(c).strip() for c in row)


def read_submission(path: str | Path, kind: str | None = None, limits: ReadLimits | None = None) -> Submission:
    """Read a submission. Raises :class:`UnreadableSubmission` with a Chinese reason when the file
    itself is bad, and :class:`SubmissionIOError` when reading failed for a reason outside the file
    (I/O error, share unavailable, file vanished): that is retried, never reported as the district's fault.
    With ``limits`` the reading stops at the first bound reached and ``truncated`` says so."""
    p = Path(path)
    if not p.is_file():
        raise UnreadableSubmission(f"文件不存在：{p.name}")
    try:
        table, encoding = _read_table(p, limits.columns) if limits else _read_table(p)
        try:
            return _rows(p, table, encoding, kind, limits)
        finally:
            close = getattr(table, "close", None)
            if close:
                close()
    except OSError as exc:
        raise SubmissionIOError(f"读取文件时发生I/O错误（{type(exc).__name__}），稍后重试：{p.name}") from exc


def _rows(p: Path, table: Iterator[list[Any]], encoding: str, kind: str | None,
          limits: ReadLimits | None) -> Submission:
    line = 0
    headers: list[Any] | None = None
    for raw in table:
        line += 1
        if limits and line > limits.scanned:
            raise UnreadableSubmission(f"表格前{limits.scanned}行都是空行，找不到表头")
        if any(c not in (None, "") for c in raw):
            headers = raw
            break
    if headers is None:
        raise UnreadableSubmission("文件为空")
    kind = kind or standard.guess_kind(headers)
    if kind is None:
        raise UnreadableSubmission("无法识别表头：应为标准字段代码（如CF_WSH）或中文字段名（如行政处罚决定书文号）")
    columns = standard.map_headers(kind, headers)
    if not columns:
        raise UnreadableSubmission(f"表头中没有{standard.KIND_ZH[kind]}的标准字段")
    unknown = [str(h) for i, h in enumerate(headers) if i not in columns and h not in (None, "")]
    sub = Submission(p, kind, columns, unknown, encoding=encoding)
    header_line, chars = line, 0
    for offset, raw in enumerate(table, start=header_line + 1):
        if _blank(raw):
            if limits and offset - header_line > limits.scanned:
                sub.truncated = True
                break
            continue  # blank line
        if limits and (len(sub.rows) >= limits.rows or offset - header_line > limits.scanned):
            sub.truncated = True
            break
        values = {code: (raw[i] if i < len(raw) else None) for i, code in columns.items()}
        if limits:
            chars += sum(len(str(v)) for v in values.values() if v is not None)
            if chars > limits.chars:
                sub.truncated = True
                break
        sub.rows.append((offset, values))
    return sub
