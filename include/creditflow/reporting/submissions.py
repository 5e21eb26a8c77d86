"""Reading district submissions: XLSX or CSV (UTF-8 with or without BOM, or GB18030), headers as field
codes or Chinese names (full- or half-width brackets, stray spaces). Used by the pipeline and by
``creditflow check`` so that both read a file the same way.
"""

from __future__ import annotations

import csv
import io
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


def _read_table(path: Path) -> tuple[list[list[Any]], str]:
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except OSError:
            raise  # the disk or share failed, not the file: the caller retries (see SubmissionIOError)
        except Exception as exc:
            raise UnreadableSubmission(f"Excel文件已损坏或不是xlsx格式（{type(exc).__name__}）") from None
        try:
            ws = wb.worksheets[0]
            table = [list(r) for r in ws.iter_rows(values_only=True)]
        finally:
            wb.close()
        return table, "xlsx"
    if suffix in (".csv", ".txt"):
        text, enc = _decode(path.read_bytes())
        if "\x00" in text:
            raise UnreadableSubmission("CSV文件包含二进制内容，无法读取")
        try:
            dialect = csv.Sniffer().sniff(text[:4096], delimiters=",\t;")
        except csv.Error:
            dialect = csv.excel  # type: ignore[assignment]
        return [list(r) for r in csv.reader(io.StringIO(text), dialect)], enc
    if suffix == ".xls":
        raise UnreadableSubmission("不支持旧版.xls格式，请另存为.xlsx或.csv后重新报送")
    raise UnreadableSubmission(f"不支持的文件类型“{suffix}”，请报送.xlsx或.csv文件")


def read_submission(path: str | Path, kind: str | None = None) -> Submission:
    """Read a submission. Raises :class:`UnreadableSubmission` with a Chinese reason when the file
    itself is bad, and :class:`SubmissionIOError` when reading failed for a reason outside the file
    (I/O error, share unavailable, file vanished): that is retried, never reported as the district's fault."""
    p = Path(path)
    if not p.is_file():
        raise UnreadableSubmission(f"文件不存在：{p.name}")
    try:
        table, encoding = _read_table(p)
    except OSError as exc:
        raise SubmissionIOError(f"读取文件时发生I/O错误（{type(exc).__name__}），稍后重试：{p.name}") from exc
    header_idx = next((i for i, r in enumerate(table) if any(c not in (None, "") for c in r)), None)
    if header_idx is None:
        raise UnreadableSubmission("文件为空")
    headers = table[header_idx]
    kind = kind or standard.guess_kind(headers)
    if kind is None:
        raise UnreadableSubmission("无法识别表头：应为标准字段代码（如CF_WSH）或中文字段名（如行政处罚决定书文号）")
    columns = standard.map_headers(kind, headers)
    if not columns:
        raise UnreadableSubmission(f"表头中没有{standard.KIND_ZH[kind]}的标准字段")
    unknown = [str(h) for i, h in enumerate(headers) if i not in columns and h not in (None, "")]
    sub = Submission(p, kind, columns, unknown, encoding=encoding)
    for offset, raw in enumerate(table[header_idx + 1:], start=header_idx + 2):
        if not any(c not in (None, "") and str(c).strip() for c in raw):
            continue  # blank line
        values = {code: (raw[i] if i < len(raw) else None) for i, code in columns.items()}
        sub.rows.append((offset, values))
    return sub
