"""#18.5: the demo's failure lines show the cause — the exception and its last frames — where they showed the
first 300 characters of stderr (log noise and the outermost frames, never the error)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from demo_failures import failure_cause, task_failure_lines

NOISE = "\n".join(f"2026-12-06 10:00:{i:02d},123 INFO creditflow.feedback loading period 2026-11 part {i}"
                  for i in range(8))
STDERR = NOISE + '''
Traceback (most recent call last):
  File "/srv/creditflow/.venv/bin/creditflow", line 8, in <module>
    sys.exit(main())
             ^^^^^^
  File "/srv/creditflow/include/creditflow/cli.py", line 40, in main
    return args.func(args)
  File "/srv/creditflow/include/creditflow/feedback/build.py", line 120, in build
    due = sgs_due_date(day)
  File "/srv/creditflow/include/creditflow/core/rules.py", line 77, in sgs_due_date
    return calendar.add_working_days(decision_date, 7)
  File "/srv/creditflow/include/creditflow/core/workdays.py", line 111, in add_working_days
    raise CalendarNotCovered(year, self.covered) from None
creditflow.core.workdays.CalendarNotCovered: no official working-day schedule for 2027: add data/calendar/2027.yaml
'''


def test_the_cause_is_the_exception_and_its_innermost_frames():
    cause = failure_cause(STDERR)
    lines = cause.splitlines()
    assert lines[0].strip() == ("creditflow.core.workdays.CalendarNotCovered: no official working-day schedule "
                                "for 2027: add data/calendar/2027.yaml")
    assert [x.strip() for x in lines[1:]] == [
        "at feedback/build.py:120 in build — due = sgs_due_date(day)",
        "at core/rules.py:77 in sgs_due_date — return calendar.add_working_days(decision_date, 7)",
        "at core/workdays.py:111 in add_working_days — raise CalendarNotCovered(year, self.covered) from None"]
    assert "INFO" not in cause and "bin/creditflow" not in cause  # neither log noise nor the outermost frames
    # What the demo printed before: the first 300 characters — no exception in them at all.
    assert "CalendarNotCovered" not in STDERR.strip()[:300]


def test_a_chained_exception_names_its_origin_and_ids_are_masked():
    text = '''Traceback (most recent call last):
  File "/a/store.py", line 10, in load
    row = rows[key]
KeyError: 'doc|440402199001010014'

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/a/cli.py", line 5, in main
    load(key)
  File "/a/store.py", line 12, in load
    raise LookupError(f"no record {key}") from exc
LookupError: no record doc|440402199001010014
[2026-12-06T10:00:00.000+0800] {process.py:10} INFO - exiting
'''
    cause = failure_cause(text)
    assert "KeyError: 'doc|4404**********0014'（由此引发：）" in cause
    assert "LookupError: no record doc|4404**********0014" in cause and "440402199001010014" not in cause
    assert "a/store.py:12 in load" in cause and "exiting" not in cause


def test_without_a_traceback_the_last_lines_not_the_first():
    text = "\n".join(f"line {i}" for i in range(50)) + "\nerror: 月报缺少 2026-11 的运行概况"
    assert failure_cause(text).splitlines()[-1].strip() == "error: 月报缺少 2026-11 的运行概况"
    assert "line 0" not in failure_cause(text)


class _Response:
    def __init__(self, body, content_type="application/json", status=200):
        self.body, self.status_code, self.ok = body, status, status < 400
        self.headers = {"content-type": content_type}
        self.text = body if isinstance(body, str) else ""

    def json(self):
        return self.body


class _Api:
    """The two REST calls the demo makes for a failed run (Airflow 3's structured task log)."""

    def call(self, method, path, **kw):
        if path.endswith("/taskInstances"):
            return _Response({"task_instances": [{"task_id": "process", "state": "failed", "try_number": 3}]})
        assert path.endswith("/taskInstances/process/logs/3"), path
        return _Response({"content": [
            {"event": "Task started"},
            {"event": "Task failed with exception", "error_detail": [
                {"exc_type": "KeyError", "exc_value": "'data_interval_start'", "frames": [
                    {"filename": "/x/task_runner.py", "lineno": 900, "name": "run"},
                    {"filename": "/x/dags/sgs_reporting.py", "lineno": 44, "name": "_run"}]}]}]})


def test_a_failed_run_is_reported_with_each_failed_task_and_its_cause():
    lines = task_failure_lines(_Api(), "sgs_penalty", "manual__2026-12-06T10:00:00+00:00")
    assert lines[0].strip() == "sgs_penalty / process（第 3 次尝试）："
    assert "KeyError: 'data_interval_start'" in lines[1] and "dags/sgs_reporting.py:44 in _run" in lines[1]
