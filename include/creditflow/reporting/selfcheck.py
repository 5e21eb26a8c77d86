"""区县自查, bounded: the check of one uploaded file as a public service runs it (issue #18).

:func:`creditflow.reporting.check.check_file` — the pipeline's own reading and rules (evaluated by the pandas
engine, which gives the GX suite's findings without GX's ~170 MB first validation) — under limits a
clerk is told about: at most :data:`MAX_ROWS` data rows are checked (the reading stops there; a bigger file
is checked in part and the page says so), the page lists the first :data:`SHOWN` findings with the count
per rule, and the full list is an XLSX (written row by row, every text masked).

The web page never runs this in its own process: it starts ``python -m creditflow.reporting.selfcheck``
for each upload (:func:`main`), which caps its own address space (``RLIMIT_AS``) and CPU time once its
imports are done, prints a small JSON summary and exits — whatever a file does to the check, the API
server's memory and event loop are untouched, and the memory goes back to the system when the check ends.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import json
import os
import resource
import sys
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # the check's own process (see main), before pandas loads pyarrow: pyarrow's
    # default allocator (mimalloc) reserves 1 GB of address space at a time, now and then past the memory
    # cap with a few KB in use ("malloc of size 64 failed"); with malloc the cap measures what is used.
    os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "system"

from creditflow.common import mask_text
from creditflow.reporting.submissions import ReadLimits

MAX_ROWS = 5000  # a district's daily file is a few hundred rows; a month's backlog a few thousand
SHOWN = 200  # findings listed on the page; all of them are in the XLSX
LIMITS = ReadLimits(rows=MAX_ROWS, columns=200, scanned=50_000, chars=5_000_000)
MEMORY_MB = 1024  # address space the check may add to its imports (RLIMIT_AS; RSS stays far below)
CPU_SECONDS = 120
KIND_OF = {"error": "错误", "duplicate": "重复", "warning": "提示"}
MESSAGE_CHARS = 300  # a message quotes the cell's value: a 32,767-character cell is not repeated whole


def _message(text: Any, limit: int = MESSAGE_CHARS) -> str:
    text = mask_text(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def findings(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Every finding of a check result, one per line, in row order: errors and duplicates, then warnings."""
    out = [{"row": i["row"], "field": e["field"], "rule": e["rule"], "message": _message(e["message"]),
            "type": "error"} for i in result["invalid"] for e in i["errors"]]
    out += [{"row": d["row"], "field": "—", "rule": "DUPLICATE", "type": "duplicate",
             "message": f"与第{d['duplicate_of']}行的文书号和行政相对人相同。"} for d in result["duplicates"]]
    out.sort(key=lambda f: f["row"])
    out += [{"row": i["row"], "field": w["field"], "rule": w["rule"], "message": _message(w["message"]),
             "type": "warning"} for i in result["warnings"] for w in i["warnings"]]
    return out


def summarize(result: dict[str, Any], shown: int = SHOWN) -> dict[str, Any]:
    """What the page shows: the totals, the count per rule, and the first ``shown`` findings."""
    every = findings(result)
    problems = [f for f in every if f["type"] != "warning"]
    warnings = [f for f in every if f["type"] == "warning"]
    per_rule = Counter((f["rule"], f["type"]) for f in every)
    return {"kind": result["kind"], "rows": result["rows"], "encoding": result["encoding"],
            "unknown_headers": [_message(h, 100) for h in result["unknown_headers"][:50]],
            "truncated": result.get("truncated", False), "max_rows": MAX_ROWS, "no_data": not result["rows"],
            "invalid_rows": len(result["invalid"]), "duplicate_rows": len(result["duplicates"]),
            "bad_rows": len(result["invalid"]) + len(result["duplicates"]),
            "problems_total": len(problems), "warnings_total": len(warnings), "shown": shown,
            "problems": problems[:shown], "warnings": warnings[:shown],
            "per_rule": [{"rule": r, "type": t, "count": n} for (r, t), n in
                         sorted(per_rule.items(), key=lambda kv: (-kv[1], kv[0]))]}


def write_xlsx(result: dict[str, Any], target: Path, file_name: str) -> None:
    """The full list of findings as a workbook (openpyxl write-only: one row in memory at a time)."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("问题清单")
    ws.append(["文件", mask_text(file_name)])
    ws.append(["检查的数据行数", result["rows"]])
    if result.get("truncated"):
        ws.append(["说明", f"文件超过自查上限，只检查了前 {result['rows']} 行"])
    ws.append([])
    ws.append(["行号", "字段", "规则", "类型", "需要修改的地方"])
    for f in findings(result):
        ws.append([f["row"], f["field"], f["rule"], KIND_OF[f["type"]], f["message"]])
    wb.save(target)


def _status_kb(key: str) -> int:
    return next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith(f"{key}:"))


def _limit_memory(extra_mb: int, cpu_seconds: int) -> None:
    """Cap this process from here on: its current address space plus ``extra_mb``, and its CPU time; and
    yield the CPU to the API server (nice 10: on 2 cores its event loop answers first, the check waits).
    glibc gives each thread that meets contention a malloc arena reserving 64 MB of address space (the
    validation's threads would spend the cap on reservations, more so on a busy machine): two arenas."""
    try:
        ctypes.CDLL(None).mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):  # not glibc: its allocator has no such reservations
        pass
    os.nice(10)
    cap = _status_kb("VmSize") * 1024 + extra_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))


def main(argv: list[str] | None = None) -> int:
    """Check one file and print the page's summary as one JSON line: ``{"summary": …}`` or
    ``{"refused": "<Chinese reason>"}``. Exit 0 for either; 3 when the memory cap was reached."""
    p = argparse.ArgumentParser(prog="python -m creditflow.reporting.selfcheck")
    p.add_argument("file", type=Path)
    p.add_argument("--name", default="upload")
    p.add_argument("--as-of", type=dt.date.fromisoformat, default=None)
    p.add_argument("--shown", type=int, default=SHOWN)
    p.add_argument("--xlsx", type=Path, help="also write the full list of findings here")
    p.add_argument("--memory-mb", type=int, default=MEMORY_MB)
    p.add_argument("--cpu-seconds", type=int, default=CPU_SECONDS)
    args = p.parse_args(argv)

    from creditflow.reporting import validation  # noqa: F401 — imported before the cap: it is not the file's cost
    from creditflow.reporting.check import check_file
    from creditflow.reporting.submissions import SubmissionIOError, UnreadableSubmission

    base_rss = _status_kb("VmRSS")
    _limit_memory(args.memory_mb, args.cpu_seconds)
    try:
        result = check_file(args.file, None, args.as_of, LIMITS, engine="pandas")
        out: dict[str, Any] = {"summary": summarize(result, args.shown)}
        if args.xlsx:
            write_xlsx(result, args.xlsx, args.name)
    except (UnreadableSubmission, SubmissionIOError) as exc:
        out = {"refused": f"无法读取该表格：{mask_text(exc)}"}
    except MemoryError:
        traceback.print_exc()  # on stderr: the server logs it (masked) with the refusal
        out = {"refused": "表格内容过多，超出了自查的内存上限，无法检查。请分成几个较小的文件后再检查。"}
    out["imports_rss_mb"] = base_rss // 1024
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    out["peak_vm_mb"] = _status_kb("VmPeak") // 1024
    sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    return 3 if "refused" in out and "内存" in out["refused"] else 0


if __name__ == "__main__":
    sys.exit(main())
