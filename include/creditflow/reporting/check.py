"""``creditflow check FILE``: validate one district submission with exactly the pipeline's rules.

Reads the file as the pipeline does (:mod:`creditflow.submissions`), standardises it as the pipeline
does, runs the same GX suite, and finds duplicate rows on the same natural key (normalised 文号 +
party code). Exit code 0 when every row is valid (warnings allowed) and unique, 1 when not — or when
the file has a header and no data row (nothing to report is not "全部通过") — 2 when the file cannot be read.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from creditflow.core import standard
from creditflow.reporting import standardise as st
from creditflow.reporting.submissions import ReadLimits, UnreadableSubmission, read_submission

NO_DATA = "没有数据行：文件只有表头，没有要报送的数据。"


def check_file(path: str | Path, kind: str | None = None, as_of: dt.date | None = None,
               limits: ReadLimits | None = None, engine: str = "gx") -> dict[str, Any]:
    """The check result as a dict (the ``--json`` shape plus ``warnings`` and header notes). With
    ``limits`` only what the bounds let through is checked; ``truncated`` says the file has more.
    ``engine``: ``"gx"`` (the pipeline's GX suite) or ``"pandas"`` — the same rule list evaluated without
    GX, which gives the same findings (``tests/unit/test_engines_agree.py``, the property tests of every
    predicate) and costs neither GX's import nor its first validation (区县自查 runs it, within its memory bound)."""
    from creditflow.reporting import validation as v

    sub = read_submission(path, kind, limits)
    as_of = as_of or dt.date.today()
    rows = [values for _, values in sub.rows]
    numbers = [n for n, _ in sub.rows]
    result: dict[str, Any] = {"file": str(path), "kind": sub.kind, "rows": len(rows), "invalid": [],
                              "duplicates": [], "warnings": [], "unknown_headers": sub.unknown_headers,
                              "encoding": sub.encoding, "truncated": sub.truncated}
    if not rows:
        return result
    # Keys within the file only, never stored: the clear ones (a district's check needs no personal-data keyring)
    frame = st.standardise(st.map_source_rows(rows, "district_file", sub.kind), sub.kind, blind_keys=False)
    columns = frame[[*standard.codes(sub.kind), "_row"]]
    if engine == "pandas":
        findings = v.validate_pandas(columns, sub.kind, as_of)
    else:
        findings, _ = v.validate_gx(columns, sub.kind, as_of)
    findings = v.with_messages(findings, sub.kind)
    by_row: dict[int, dict[str, list[dict[str, str]]]] = {}
    for f in findings.to_dict("records"):
        bucket = "errors" if f["severity"] == "error" else "warnings"
        entry = by_row.setdefault(int(f["_row"]), {"errors": [], "warnings": []})
        entry[bucket].append({"field": f["field"], "rule": f["rule_id"], "message": f["message_zh"]})
    for i, entry in sorted(by_row.items()):
        if entry["errors"]:
            result["invalid"].append({"row": numbers[i], "errors": entry["errors"]})
        if entry["warnings"]:
            result["warnings"].append({"row": numbers[i], "warnings": entry["warnings"]})
    first: dict[str, int] = {}
    for i, nk in enumerate(frame["natural_key"]):
        # no key (a natural person without 证件号码 gives NaN, which is truthy and equal as a dict key to the
        # NaN object of every other such row): never a duplicate of anything
        if nk is None or pd.isna(nk) or not str(nk).strip():
            continue
        if nk in first:
            result["duplicates"].append({"row": numbers[i], "duplicate_of": numbers[first[nk]]})
        else:
            first[nk] = i
    return result


def run_check(path: str, kind: str | None = None, as_json: bool = False, as_of: dt.date | None = None) -> int:
    if Path(path).is_dir():
        print(f"creditflow check: {Path(path).name or path}：是目录，不是文件；请给出要检查的CSV或XLSX文件",
              file=sys.stderr)
        return 2
    try:
        result = check_file(path, kind, as_of)
    except UnreadableSubmission as exc:
        print(f"creditflow check: {Path(path).name}: {exc}", file=sys.stderr)
        return 2
    if as_json:
        print(json.dumps({k: result[k] for k in ("rows", "invalid", "duplicates")}, ensure_ascii=False, indent=1))
    else:
        print(_human(result))
    return 0 if result["rows"] and not result["invalid"] and not result["duplicates"] else 1


def _human(r: dict[str, Any]) -> str:
    lines = [f"{Path(r['file']).name}：{standard.KIND_ZH[r['kind']]}，共 {r['rows']} 行数据"
             f"（编码 {r['encoding']}）。"]
    if r["unknown_headers"]:
        lines.append(f"未识别的表头（已忽略）：{'、'.join(r['unknown_headers'])}")
    for item in r["invalid"]:
        for e in item["errors"]:
            lines.append(f"  第{item['row']}行 [{e['rule']}] {e['message']}")
    for item in r["duplicates"]:
        lines.append(f"  第{item['row']}行 [DUPLICATE] 与第{item['duplicate_of']}行的文书号和行政相对人相同。")
    for item in r["warnings"]:
        for w in item["warnings"]:
            lines.append(f"  第{item['row']}行 （提示）[{w['rule']}] {w['message']}")
    bad = len(r["invalid"]) + len(r["duplicates"])
    if not r["rows"]:
        lines.append(f"结论：{NO_DATA}")
    else:
        lines.append("结论：全部通过。" if not bad else
                     f"结论：{len(r['invalid'])} 行有错误，{len(r['duplicates'])} 行重复，请修改后重新报送。")
    return "\n".join(lines)
