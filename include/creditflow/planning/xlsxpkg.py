"""The plan's XLSX workbooks, written with openpyxl in write-only mode (rows stream to disk, so a plan of
50,000 enterprises does not hold a million cell objects) — with the two things the plan needs on top:

* **fixed bytes**: every byte depends only on the content — the document times are the plan's date,
  the zip entries carry a fixed time (openpyxl's own ``save_workbook`` stamps both with "now");
* **plain tables**: text, numbers and booleans; column widths; the workbook font 等线 11 pt; characters
  XML cannot hold (control characters) dropped, empty strings left as empty cells.

Cost: about three times the CPU of the hand-written zip-of-XML writer this replaced (a plan of 13,714
enterprises: 3.4 s against 1.1 s; 1.5 million cells: 8.2 s against 1.8 s), for far less code of our own.
"""

from __future__ import annotations

import datetime as dt
import shutil
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from openpyxl import Workbook as _OpenpyxlWorkbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.utils.indexed_list import IndexedList
from openpyxl.writer.excel import ExcelWriter

FONT = Font(name="等线", sz=11)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class Workbook:
    """Sheets in the order added; :meth:`save` writes the package."""

    def __init__(self, title: str = "", creator: str = "creditflow", stamp: dt.datetime | None = None):
        self._wb = _OpenpyxlWorkbook(write_only=True)
        self._wb._fonts = IndexedList([FONT])  # the default (Normal) font of every cell
        self._wb._named_styles["Normal"].font = FONT
        stamp = stamp or dt.datetime(2000, 1, 1)
        props = self._wb.properties
        props.title, props.creator, props.created, props.modified = title, creator, stamp, stamp

    def add_sheet(self, name: str, rows: Iterable[list[Any]], widths: list[int] | None = None) -> None:
        if len(name) > 31 or any(c in name for c in "[]:*?/\\"):
            raise ValueError(f"not a sheet name: {name!r}")
        ws = self._wb.create_sheet(name)
        for i, width in enumerate(widths or [], 1):
            ws.column_dimensions[get_column_letter(i)].width = width
        for row in rows:
            ws.append(list(_plain(row)))

    def save(self, path: str | Path) -> Path:
        out = Path(path)
        with _FixedTimeZip(out, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            ExcelWriter(self._wb, archive).save()  # save_workbook() would set "modified" to now
        return out


def _plain(row: list[Any]) -> Iterator[Any]:
    for value in row:
        if value is None or value == "" or isinstance(value, bool | int | float):
            yield None if value == "" else value
        else:
            yield ILLEGAL_CHARACTERS_RE.sub("", str(value))


class _FixedTimeZip(zipfile.ZipFile):
    """A zip whose entries all carry one fixed time and mode, whatever openpyxl writes them from (strings,
    or the temporary files of write-only sheets)."""

    @staticmethod
    def _info(name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o600 << 16
        return info

    def writestr(self, zinfo_or_arcname: str | zipfile.ZipInfo, data: str | bytes,  # type: ignore[override]
                 compress_type: int | None = None, compresslevel: int | None = None) -> None:
        name = zinfo_or_arcname.filename if isinstance(zinfo_or_arcname, zipfile.ZipInfo) else zinfo_or_arcname
        super().writestr(self._info(name), data)

    def write(self, filename: Any, arcname: Any = None, compress_type: int | None = None,  # type: ignore[override]
              compresslevel: int | None = None, *, strict_timestamps: bool = True) -> None:
        with open(filename, "rb") as src, self.open(self._info(str(arcname or filename)), "w",
                                                    force_zip64=True) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
