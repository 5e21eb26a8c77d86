"""区县自查: a district clerk uploads a spreadsheet and sees, before sending it, exactly what
``creditflow check`` finds (:func:`creditflow.reporting.check.check_file` — the pipeline's own reading,
mapping and Great Expectations rules), in Chinese.

What is refused, with a message saying why: more than :data:`MAX_BYTES`; anything but ``.xlsx`` and
``.csv``; an ``.xlsx`` that is not a workbook (not a ZIP, or no ``xl/workbook.xml``); a ZIP that would
unpack to more than :data:`MAX_UNPACKED` bytes, has more than :data:`MAX_MEMBERS` entries or compresses
more than :data:`MAX_RATIO` to one (a zip bomb posing as XLSX). The upload lives in a temporary folder for
the length of the check and is deleted before the page is returned; nothing is written to the warehouse.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from creditflow.common import TZ
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from creditflow_ui import auth
from creditflow_ui.routes import render

router = APIRouter()

MAX_BYTES = 5 * 1024 * 1024  # a district's daily file is a few hundred rows: tens of KB
MAX_UNPACKED = 50 * 1024 * 1024
MAX_MEMBERS = 500
MAX_RATIO = 100  # real workbooks compress 5–20:1; a bomb thousands
FORM_OVERHEAD = 64 * 1024
SUFFIXES = (".xlsx", ".csv")
_SAFE = re.compile(r"[^\w.\-（）()〔〕\u4e00-\u9fff]+")


class Refused(ValueError):
    """The upload is not checked; the message says why, for the clerk."""


def _xlsx_guard(path: Path) -> None:
    """Refuse a file that is not a workbook, or a ZIP that would unpack out of proportion."""
    if not zipfile.is_zipfile(path):
        raise Refused("这不是有效的 Excel（.xlsx）文件：文件内容不是 xlsx 格式。"
                      "请用 Excel 或 WPS 另存为 .xlsx 后再上传。")
    try:
        with zipfile.ZipFile(path) as z:
            members = z.infolist()
            names = {m.filename for m in members}
            unpacked = sum(m.file_size for m in members)
            packed = sum(m.compress_size for m in members) or 1
            if len(members) > MAX_MEMBERS or unpacked > MAX_UNPACKED or unpacked / packed > MAX_RATIO \
                    or any(m.file_size > MAX_UNPACKED for m in members):
                raise Refused(f"文件解压后过大（约 {unpacked / 1024 / 1024:.0f} MB，"
                              f"压缩比 {unpacked / packed:.0f}:1），不像正常的报送表格，已拒绝检查。")
            if "xl/workbook.xml" not in names or "[Content_Types].xml" not in names:
                raise Refused("这不是 Excel 工作簿：压缩包里没有工作簿内容（xl/workbook.xml）。请上传 .xlsx 表格。")
    except zipfile.BadZipFile:
        raise Refused("Excel 文件已损坏，无法打开。请重新导出后再上传。") from None


def check_upload(name: str, data: bytes, as_of: dt.date | None = None) -> dict[str, Any]:
    """The findings of ``creditflow check`` for an uploaded file (raises :class:`Refused`)."""
    from creditflow.reporting.check import check_file
    from creditflow.reporting.submissions import SubmissionIOError, UnreadableSubmission

    suffix = Path(name).suffix.lower()
    if suffix == ".xls":
        raise Refused("不支持旧版 .xls 格式，请在 Excel 中另存为 .xlsx 或 .csv 后再上传。")
    if suffix not in SUFFIXES:
        raise Refused(f"不支持的文件类型“{suffix or '无扩展名'}”：请上传 .xlsx 或 .csv 表格。")
    if not data:
        raise Refused("上传的文件是空的。")
    if len(data) > MAX_BYTES:
        raise Refused(f"文件过大（{len(data) / 1024 / 1024:.1f} MB），上限 {MAX_BYTES // 1024 // 1024} MB。")
    with tempfile.TemporaryDirectory(prefix="creditflow-check-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        if suffix == ".xlsx":
            _xlsx_guard(path)
        try:
            result = check_file(path, None, as_of or dt.datetime.now(TZ).date())
        except (UnreadableSubmission, SubmissionIOError) as exc:
            raise Refused(f"无法读取该表格：{exc}") from None
    result["file"] = name
    result["bad_rows"] = len(result["invalid"]) + len(result["duplicates"])
    return result


def _display_name(filename: str | None) -> str:
    name = Path(filename or "upload").name
    return _SAFE.sub("_", name)[:120] or "upload"


@router.get("/check", response_class=HTMLResponse)
def check_page(request: Request, user: Any = Depends(auth.current_user)) -> HTMLResponse:
    return render(request, "check.html", "区县自查：报送前检查表格", "check", user, result=None, error=None,
                  upload_name="", max_mb=MAX_BYTES // 1024 // 1024)


@router.post("/check", response_class=HTMLResponse)
async def check_submit(request: Request, user: Any = Depends(auth.current_user)) -> HTMLResponse:
    def page(status: int, **context: Any) -> HTMLResponse:
        return render(request, "check.html", "区县自查：报送前检查表格", "check", user, status_code=status,
                      max_mb=MAX_BYTES // 1024 // 1024, **{"result": None, "error": None, "upload_name": "", **context})

    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        return page(411, error="请通过页面上的表单上传文件。")
    if int(length) > MAX_BYTES + FORM_OVERHEAD:
        return page(413, error=f"文件过大，上限 {MAX_BYTES // 1024 // 1024} MB。")
    form = await request.form(max_files=1, max_fields=4)
    try:
        auth.check_form(request, str(form.get("csrf_token") or ""))
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return page(400, error="请选择要检查的表格文件（.xlsx 或 .csv）。")
        data = await upload.read(MAX_BYTES + 1)
        name = _display_name(upload.filename)
    finally:
        await form.close()  # the spooled upload is deleted here
    try:
        result = await run_in_threadpool(check_upload, name, data)
    except Refused as exc:
        return page(422, error=str(exc), upload_name=name)
    return page(200, result=result, upload_name=name)
