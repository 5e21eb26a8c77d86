"""What a daily run and a history load print and report, without Airflow: the step lines, the resume point
of a retried load and the task's outcome when days failed (pipeline/interval.py)."""

from __future__ import annotations

import datetime as dt

from creditflow.common import contains_unmasked_id
from creditflow.reporting.pipeline.interval import DayResult, load_outcome, resume_since, step_line

SUMMARY = {"extracted": 5, "uploaded": 3, "quarantined": 1, "awaiting_review": 1, "unchanged": 0, "duplicates": 0,
           "late": 0, "due_soon": 0, "rejected_files": 0, "reconciled": True,
           "alert": ("临期预警", "身份证号440402199001010014的记录临期"), "seconds": {"total": 1.2}}


def test_step_lines_show_counts_and_time_only():
    line = step_line("penalty", "decide", 0.1234, {"uploaded": 3, "reconciled": True, "note": "text",
                                                   "ratio": 0.5})
    assert line == "[penalty] decide: uploaded 3，ratio 0.5（0.12 秒）"
    assert step_line("license", "extract", 0, {}) == "[license] extract: —（0.00 秒）"


def test_a_retry_resumes_from_the_load_runs_start_in_utc():
    start = dt.datetime(2026, 11, 28, 9, 30, 15, 123456, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert resume_since(start) == "2026-11-28T01:30:15+00:00"
    assert resume_since(None) == "9999"  # no start known: no day counts as finished, all are redone


def test_load_outcome_keeps_counts_drops_the_alert_and_names_failed_days():
    ok = [DayResult("penalty", dt.date(2026, 1, d), "success", summary=dict(SUMMARY), seconds=1.0) for d in (1, 2)]
    out, error = load_outcome("行政处罚", ok)
    assert error is None and [r["day"] for r in out] == ["2026-01-01", "2026-01-02"]
    assert all("alert" not in r["summary"] for r in out) and out[0]["summary"]["uploaded"] == 3
    assert "alert" in ok[0].summary  # the results themselves are not changed
    assert not contains_unmasked_id(str(out))

    failed = [DayResult("penalty", dt.date(2026, 2, 1) + dt.timedelta(days=i), "failed", error=f"OSError: 第{i}天")
              for i in range(25)]
    out, error = load_outcome("行政处罚", ok + failed)
    assert error is not None and error.startswith("行政处罚：25 天失败（其余 2 天已完成）：2026-02-01 OSError: 第0天；")
    assert "2026-02-20" in error and "2026-02-21" not in error and error.endswith("…")  # twenty listed
    assert len(out) == 27
