"""区县自查: a district clerk uploads a spreadsheet and sees, before sending it, exactly what
``creditflow check`` finds (:func:`creditflow.reporting.check.check_file` — the pipeline's own reading,
mapping and Great Expectations rules), in Chinese.

What is refused, with a message saying why: more than :data:`MAX_BYTES`; anything but ``.xlsx`` and
``.csv``; an ``.xlsx`` that is not a workbook (not a ZIP, or no ``xl/workbook.xml``); a ZIP that would
unpack to more than :data:`MAX_UNPACKED` bytes, has more than :data:`MAX_MEMBERS` entries or compresses
more than :data:`MAX_RATIO` to one (a zip bomb posing as XLSX). The upload lives in a temporary folder for
the length of the check and is deleted before the page is returned; nothing is written to the warehouse.

A public service must survive the worst file its guards let through (issue #18): the check runs in its
own process (:mod:`creditflow.reporting.selfcheck`: at most its row limit read, its memory and CPU capped)
awaited without blocking the event loop, at most :data:`MAX_RUNNING` at once per server process (more
get a 503 page at once), killed after :data:`TIMEOUT` seconds; the page lists the first findings and the
count per rule. The full list is an XLSX answered to the same upload (the form's second button), so
nothing of the file or its findings is kept between requests — there is no cache to bound, expire or
share between API server workers, and "检查完即删除" stays true.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import re
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from creditflow.common import TZ, mask_text
from creditflow.reporting.selfcheck import MAX_ROWS, SHOWN
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from creditflow_ui import auth
from creditflow_ui.routes import render

router = APIRouter()
log = logging.getLogger(__name__)

MAX_BYTES = 5 * 1024 * 1024  # a district's daily file is a few hundred rows: tens of KB
MAX_UNPACKED = 50 * 1024 * 1024
MAX_MEMBERS = 500
MAX_RATIO = 100  # real workbooks compress 5–20:1; a bomb thousands
FORM_OVERHEAD = 64 * 1024
MAX_RUNNING = 2  # checks at once per server process (2 cores); more get "请稍后再试" at once, not a queue
TIMEOUT = 120  # seconds of wall time per check; the worst file the guards let through takes about 10
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_running = 0
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


def _worker_env() -> dict[str, str]:
    """The check process imports the same ``creditflow`` as this server (wherever it was found)."""
    import creditflow

    include = str(Path(creditflow.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in [include, os.environ.get("PYTHONPATH", "")] if p)
    return {**os.environ, "PYTHONPATH": path, "MALLOC_ARENA_MAX": "2"}


async def _run_check(path: Path, name: str, as_of: dt.date, xlsx: Path | None) -> dict[str, Any]:
    """Run the check in its own process (:mod:`creditflow.reporting.selfcheck`), awaiting it without
    blocking the event loop; kill it past :data:`TIMEOUT`."""
    args = [sys.executable, "-m", "creditflow.reporting.selfcheck", str(path), f"--name={name}",
            "--as-of", as_of.isoformat(), *(["--xlsx", str(xlsx)] if xlsx else [])]
    proc = await asyncio.create_subprocess_exec(*args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, cwd=path.parent, env=_worker_env())
    try:
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    except BaseException:  # too slow, or the clerk went away: the check must not outlive the request
        if proc.returncode is None:
            proc.kill()
            await asyncio.shield(proc.wait())
        if isinstance(sys.exc_info()[1], asyncio.TimeoutError):
            raise Refused(f"检查超过 {TIMEOUT} 秒没有完成，已中止。请分成几个较小的文件后再检查。") from None
        raise
    lines = out.decode("utf-8", "replace").strip().splitlines()
    if not lines:
        log.warning("区县自查进程异常退出（%s）：%s", proc.returncode,
                    mask_text(err.decode("utf-8", "replace")[-2000:]))
        if proc.returncode is not None and proc.returncode < 0:  # killed: the CPU cap (SIGXCPU) or the memory cap
            raise Refused("表格内容过多，超出了自查的时间或内存上限，无法检查。请分成几个较小的文件后再检查。")
        raise Refused("检查没有完成（系统内部错误），请稍后再试；如仍不行请联系市局。")
    answer = json.loads(lines[-1])
    log.info("区县自查：%s 检查完毕，检查进程内存峰值 %s MB", mask_text(name), answer.get("peak_rss_mb"))
    if "refused" in answer:
        raise Refused(str(answer["refused"]))
    return dict(answer["summary"])


async def check_upload(name: str, data: bytes, as_of: dt.date | None = None,
                       full_list: bool = False) -> tuple[dict[str, Any], bytes | None]:
    """The page's summary of ``creditflow check`` for an uploaded file, and with ``full_list`` the full
    list of findings as XLSX bytes (raises :class:`Refused`)."""
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
        xlsx = Path(tmp) / "findings.xlsx" if full_list else None
        summary = await _run_check(path, name, as_of or dt.datetime.now(TZ).date(), xlsx)
        listing = xlsx.read_bytes() if xlsx else None
    summary["file"] = name
    return summary, listing


def _display_name(filename: str | None) -> str:
    name = Path(filename or "upload").name
    return _SAFE.sub("_", name)[:120] or "upload"


def _limits() -> dict[str, Any]:
    return {"max_mb": MAX_BYTES // 1024 // 1024, "max_rows": MAX_ROWS, "shown": SHOWN}


@router.get("/check", response_class=HTMLResponse)
def check_page(request: Request, user: Any = Depends(auth.current_user)) -> HTMLResponse:
    return render(request, "check.html", "区县自查：报送前检查表格", "check", user, result=None, error=None,
                  upload_name="", **_limits())


@router.post("/check", response_class=HTMLResponse)
async def check_submit(request: Request, user: Any = Depends(auth.current_user)) -> Response:
    global _running

    def page(status: int, **context: Any) -> HTMLResponse:
        return render(request, "check.html", "区县自查：报送前检查表格", "check", user, status_code=status,
                      **_limits(), **{"result": None, "error": None, "upload_name": "", **context})

    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        return page(411, error="请通过页面上的表单上传文件。")
    if int(length) > MAX_BYTES + FORM_OVERHEAD:
        return page(413, error=f"文件过大，上限 {MAX_BYTES // 1024 // 1024} MB。")
    if _running >= MAX_RUNNING:  # checked and taken with no await in between: one event loop, no race
        busy = page(503, error="正在处理其他自查，请稍后再试（约一分钟后重新上传）。")
        busy.headers["Retry-After"] = "30"
        return busy
    _running += 1
    try:
        form = await request.form(max_files=1, max_fields=4)
        try:
            auth.check_form(request, str(form.get("csrf_token") or ""))
            upload = form.get("file")
            if not isinstance(upload, UploadFile) or not upload.filename:
                return page(400, error="请选择要检查的表格文件（.xlsx 或 .csv）。")
            data = await upload.read(MAX_BYTES + 1)
            name = _display_name(upload.filename)
            full_list = form.get("output") == "xlsx"
        finally:
            await form.close()  # the spooled upload is deleted here
        try:
            result, listing = await check_upload(name, data, full_list=full_list)
        except Refused as exc:
            return page(422, error=str(exc), upload_name=name)
    finally:
        _running -= 1
    if listing is not None:
        download = f"问题清单_{Path(name).stem}.xlsx"
        return Response(listing, media_type=XLSX, headers={
            "Content-Disposition": f"attachment; filename=\"findings.xlsx\"; filename*=UTF-8''{quote(download)}"})
    return page(200, result=result, upload_name=name)
