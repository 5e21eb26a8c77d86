"""What the demo says when something failed: the cause — the exception and its last frames — not the first
300 characters of a traceback (which are log noise and the outermost frames, never the error).

:func:`failure_cause` reads any text that may hold a Python traceback (a CLI's stderr, a task log) and keeps
the final exception (with the exception it was raised from, if any) and the last frames that led to it;
without a traceback, the text's last lines. :func:`task_failure_lines` fetches the failed tasks of a DAG run
through the REST API and gives each one's cause. Everything passes through the one masking function.
"""

from __future__ import annotations

import re
from typing import Any

_TRACEBACK = "Traceback (most recent call last):"
_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+), in (.+)$')
_CHAIN = ("The above exception was the direct cause of the following exception:",
          "During handling of the above exception, another exception occurred:")
_LOG_PREFIX = re.compile(r"^\[?\d{4}-\d\d-\d\d[T ][\d:.,]+\S*\]?\s*(\{[^}]*\}\s*)?(\[?[A-Za-z]+\s*\]?\s*)?")


def _mask(text: str) -> str:
    try:
        from creditflow.common import mask_text
    except ImportError:  # outside the venv's path: the demo always has it; keep the helper importable
        return text
    return mask_text(text)


def _strip_prefix(line: str) -> str:
    """A log line's own text, without the logger's timestamp/level prefix."""
    return _LOG_PREFIX.sub("", line.rstrip())


def failure_cause(text: str, frames: int = 3, indent: str = "    ") -> str:
    """The exception that ended ``text`` and the ``frames`` innermost frames before it (one line each:
    ``file:line in function``), plus the exception it was raised from; else the last 5 non-empty lines."""
    lines = [_strip_prefix(x) for x in text.splitlines()]
    starts = [i for i, x in enumerate(lines) if x.strip() == _TRACEBACK]
    if not starts:
        tail = [x for x in lines if x.strip()][-5:]
        return _mask("\n".join(indent + x.strip() for x in tail)) if tail else f"{indent}（没有输出）"
    out: list[str] = []
    last = _block(lines, starts[-1], frames)
    # The exception this one was raised from / during: the block before, if it chains into this one.
    if len(starts) > 1 and any(c in "\n".join(lines[starts[-2]:starts[-1]]) for c in _CHAIN):
        cause = _block(lines, starts[-2], 1)
        out.append(f"{cause['error']}（由此引发：）")
    out.append(last["error"])
    out += [f"  at {f}" for f in last["frames"]]
    return _mask("\n".join(indent + x for x in out))


def _block(lines: list[str], start: int, frames: int) -> dict[str, Any]:
    found: list[str] = []
    error: list[str] = []
    i = start + 1
    while i < len(lines):
        m = _FRAME.match(lines[i])
        if m:
            path = m.group(1)
            short = "/".join(path.split("/")[-2:])
            code = lines[i + 1].strip() if i + 1 < len(lines) and not _FRAME.match(lines[i + 1]) else ""
            found.append(f"{short}:{m.group(2)} in {m.group(3)}" + (f" — {code}" if code else ""))
            i += 2 if code else 1
            continue
        text = lines[i].strip()
        if not text or set(text) <= set("^~ "):
            i += 1
            continue
        if text in _CHAIN or text == _TRACEBACK:
            break
        if found and re.match(r"^[A-Za-z_][\w.]*(:|$)", text):  # `module.ExceptionType: message`
            error.append(text)
            break
        i += 1
    return {"error": " ".join(error) or "（异常信息缺失）", "frames": found[-frames:]}


def task_failure_lines(api: Any, dag_id: str, run_id: str, frames: int = 3) -> list[str]:
    """Each failed task of a run, with its cause from the task's log (the REST API, as the UI reads it)."""
    from urllib.parse import quote

    base = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances"
    r = api.call("GET", base, params={"state": "failed"})
    if not r.ok:
        return [f"    （无法读取任务：{r.status_code}）"]
    out = []
    for ti in r.json().get("task_instances", []):
        if ti.get("state") != "failed":
            continue
        task, tries = ti["task_id"], int(ti.get("try_number") or 1)
        log = api.call("GET", f"{base}/{task}/logs/{tries}", params={"full_content": "true"})
        out.append(f"  {dag_id} / {task}（第 {tries} 次尝试）：")
        out.append(failure_cause(_log_text(log), frames) if log.ok else f"    （无法读取日志：{log.status_code}）")
    return out


def _log_text(response: Any) -> str:
    """A task log as text: Airflow 3 answers structured lines (JSON) or plain text."""
    if "json" not in response.headers.get("content-type", ""):
        return str(response.text)
    body = response.json()
    content = body.get("content", body) if isinstance(body, dict) else body
    lines = []
    for item in content if isinstance(content, list) else [content]:
        if isinstance(item, dict):
            lines.append(str(item.get("event", "")))
            chain = list(item.get("error_detail") or [])  # Airflow 3's structured exception: last raised first
            for n, exc in enumerate(reversed(chain)):
                lines.append(_CHAIN[0] if n else "")
                lines.append(_TRACEBACK)
                for frame in exc.get("frames", []):
                    where = f'"{frame.get("filename")}", line {frame.get("lineno")}'
                    lines.append(f"  File {where}, in {frame.get('name')}")
                lines.append(f"{exc.get('exc_type')}: {exc.get('exc_value')}")
        else:
            lines.append(str(item))
    return "\n".join(lines)
