"""区县自查 under the worst file its guards let through (issue #18 point 1; by hand, not a test — the browser
test ``tests/integration/test_selfcheck_browser.py`` uses :func:`worst_workbook` too).

The worst file: a workbook of at most 5 MB whose parts unpack to just under the 50 MB guard at a ratio under
the 100:1 guard (an incompressible padding part keeps the ratio down), its one sheet full of rows that break
as many rules as a row can (about 11 errors each, every row a duplicate of the first), written with shared
strings as Excel writes them. ``--shape wide`` is the other extreme: few rows, every cell one shared string of
32,767 characters (the amplification of a shared-string table).

    python bench/selfcheck.py [--root DIR] [--shape rows|wide] [--port 28106] [--keep FILE]

1. writes the file (or takes ``--file``);
2. starts ``airflow api-server`` from ``--root`` (default: this checkout; pass an exported older tree —
   ``git archive <commit> | tar -x -C DIR`` — to measure the code before) in its own AIRFLOW_HOME;
3. logs in (``POST /auth/token``), posts the file to ``/creditflow/check`` as the page's form does, and
   meanwhile asks ``/api/v2/monitor/health`` every 0.25 s and samples the RSS of the server's process tree
   (the server and any child it starts) every 0.02 s;
4. prints JSON: wall seconds, HTTP status, page bytes, RSS of the tree before / peak / after (MB), the
   slowest health answer (s) and how many health calls failed or took over 1 s — record it in
   docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]

# The penalty table's Chinese header (as districts send it), and a row that breaks what a row can break:
# a party class outside the list, a USCC with bad check characters, required cells empty, a 文号 that is
# not one, a penalty class outside the list, a fine that is not a number, a date that does not exist.
HEADER = ["行政相对人名称", "行政相对人类别", "行政相对人代码_1（统一社会信用代码）", "法定代表人",
          "行政处罚决定书文号", "违法行为类型", "违法事实", "处罚依据", "处罚类别", "处罚内容", "罚款金额（万元）",
          "处罚决定日期", "处罚有效期", "处罚机关", "处罚机关统一社会信用代码", "数据来源单位",
          "数据来源单位统一社会信用代码"]
BAD_ROW = ["x", "未知类别", "123", "", "1号", "", "", "", "没收", "", "abc", "2026-13-45", "20", "某局", "456", "某局",
           "789"]
MAX_UNPACKED = 50 * 1024 * 1024  # the page's guards (plugins/creditflow_ui/selfcheck.py)
MAX_RATIO = 100


def _col(i: int) -> str:
    name = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        name = chr(65 + r) + name
    return name


def worst_workbook(target: Path, shape: str = "rows", unpacked: int = 48 * 1024 * 1024, ratio: float = 90) -> dict:
    """Write the worst-case workbook to ``target``; return its sizes. ``unpacked`` is the sheet's size."""
    strings = list(dict.fromkeys([*HEADER, *[v for v in BAD_ROW if v]]))
    if shape == "wide":
        strings.append("违" * 32767)
    index = {s: i for i, s in enumerate(strings)}

    def cell(ref: str, value: str) -> str:
        return f'<c r="{ref}" t="s"><v>{index[value]}</v></c>' if value else ""

    cols = [_col(i) for i in range(len(HEADER))]
    head = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
    tail = "</sheetData></worksheet>"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
            'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType='
            '"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'))
        z.writestr("_rels/.rels", (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
            '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'))
        z.writestr("xl/workbook.xml", (
            '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
            '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
            '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'))
        z.writestr("xl/_rels/workbook.xml.rels", (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
            '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.'
            'openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
            '</Relationships>'))
        z.writestr("xl/sharedStrings.xml", (
            '<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
            f'2006/main" count="{len(strings)}" uniqueCount="{len(strings)}">'
            + "".join(f"<si><t>{escape(s)}</t></si>" for s in strings) + "</sst>"))
        rows = 0
        with z.open("xl/worksheets/sheet1.xml", "w") as sheet:
            written = sheet.write(head.encode())
            line = "".join(cell(f"{c}1", h) for c, h in zip(cols, HEADER, strict=True))
            written += sheet.write(f'<row r="1">{line}</row>'.encode())
            values = BAD_ROW if shape == "rows" else [strings[-1]] * len(HEADER)
            while written < unpacked - 4096:
                rows += 1
                n = rows + 1
                line = "".join(cell(f"{c}{n}", v) for c, v in zip(cols, values, strict=True))
                written += sheet.write(f'<row r="{n}">{line}</row>'.encode())
            written += sheet.write(tail.encode())
        infos = z.infolist()
        total = sum(i.file_size for i in infos)
        packed = sum(i.compress_size for i in infos)
        pad = max(0, int((total - ratio * packed) / (ratio - 1)) + 1024)  # incompressible: unpacked == packed
        if total + pad > MAX_UNPACKED:
            raise ValueError("sheet too large for the unpacked guard")
        if total / packed > ratio:
            z.writestr(zipfile.ZipInfo("xl/media/image1.bin"), os.urandom(pad), compress_type=zipfile.ZIP_STORED)
    data = buf.getvalue()
    target.write_bytes(data)
    with zipfile.ZipFile(target) as z:
        infos = z.infolist()
    unpacked_total = sum(i.file_size for i in infos)
    packed_total = sum(i.compress_size for i in infos)
    return {"file_bytes": len(data), "unpacked_bytes": unpacked_total, "ratio": round(unpacked_total / packed_total, 1),
            "data_rows": rows}


def _tree_rss_kb(pid: int) -> int:
    """RSS of a process and all its descendants (kB)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, AttributeError):
            continue
    return total


def start_server(root: Path, port: int) -> tuple[subprocess.Popen, Path]:
    sys.path.insert(0, str(root / "scripts"))
    from airflow_env import airflow_env

    home = Path(tempfile.mkdtemp(prefix="bench-selfcheck-"))
    env = {**os.environ, **airflow_env(home, port=port)}
    env["PYTHONPATH"] = os.pathsep.join([str(root / "plugins"), str(root / "include")])
    env["AIRFLOW__API__WORKERS"] = "1"
    env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
    env["CREDITFLOW_VAR"] = str(home / "var")
    airflow = str(Path(sys.executable).parent / "airflow")
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    log = open(home / "api-server.log", "w")  # noqa: SIM115 — the server's lifetime
    proc = subprocess.Popen([airflow, "api-server", "--port", str(port)], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    return proc, home


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def measure(base: str, pid: int, data: bytes, name: str = "worst.xlsx") -> dict:
    import requests

    s = requests.Session()
    deadline = time.monotonic() + 120
    while True:
        try:
            r = s.post(f"{base}/auth/token", json={"username": "admin", "password": "admin"}, timeout=5)
            if r.status_code == 201:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("api-server did not start")
        time.sleep(1)
    s.cookies.set("_token", r.json()["access_token"])
    page = s.get(f"{base}/creditflow/check", timeout=30).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    time.sleep(2)
    before = _tree_rss_kb(pid)
    peak, health, stop_flag = [before], [], threading.Event()

    def sample() -> None:
        while not stop_flag.is_set():
            peak[0] = max(peak[0], _tree_rss_kb(pid))
            time.sleep(0.02)

    def probe() -> None:
        while not stop_flag.is_set():
            t = time.perf_counter()
            try:
                ok = requests.get(f"{base}/api/v2/monitor/health", timeout=10).status_code == 200
            except requests.RequestException:
                ok = False
            health.append((time.perf_counter() - t, ok))
            time.sleep(0.25)

    threads = [threading.Thread(target=sample), threading.Thread(target=probe)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    r = s.post(f"{base}/creditflow/check", data={"csrf_token": csrf},
               files={"file": (name, data, "application/octet-stream")}, timeout=600)
    wall = time.perf_counter() - t0
    stop_flag.set()
    for t in threads:
        t.join()
    time.sleep(2)
    after = _tree_rss_kb(pid)
    return {"status": r.status_code, "wall_s": round(wall, 1), "page_bytes": len(r.content),
            "rss_before_mb": before // 1024, "rss_peak_mb": peak[0] // 1024, "rss_after_mb": after // 1024,
            "extra_peak_mb": (peak[0] - before) // 1024,
            "health_calls": len(health), "health_max_s": round(max((h for h, _ in health), default=0), 3),
            "health_slow_or_failed": sum(1 for h, ok in health if h > 1 or not ok),
            "verdict": (re.search(r'id="verdict">\s*([^<]+)', r.text) or re.search(r'id="check-error">([^<]+)', r.text)
                        or re.search(r"<title>([^<]*)", r.text)).group(1).strip()[:120]}  # type: ignore[union-attr]


def main() -> None:
    from benchenv import ensure_keyring

    ensure_keyring()  # #19 §3: the warehouse and the pipeline seal personal data
    p = argparse.ArgumentParser()
    p.add_argument("--root", type=Path, default=ROOT)
    p.add_argument("--shape", choices=("rows", "wide"), default="rows")
    p.add_argument("--file", type=Path)
    p.add_argument("--keep", type=Path, help="also save the generated file here")
    p.add_argument("--port", type=int, default=int(os.environ.get("CF_TEST_API_PORT", "28106")))
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.file or Path(tmp) / "worst.xlsx"
        if not args.file:
            print(json.dumps({"file": worst_workbook(path, args.shape), "shape": args.shape}), flush=True)
        if args.keep:
            args.keep.write_bytes(path.read_bytes())
        proc, _home = start_server(args.root.resolve(), args.port)
        try:
            result = measure(f"http://127.0.0.1:{args.port}", proc.pid, path.read_bytes())
        finally:
            stop(proc)
        print(json.dumps({"root": str(args.root), **result}, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
