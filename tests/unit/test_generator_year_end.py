"""The sandbox generator in the last days of a year whose successor has no official calendar yet (issue #16.4:
``make demo`` must keep working): changes planned past the calendar are past the demo's horizon."""

import datetime as dt

from creditflow.core import workdays
from creditflow_sandbox import generator as g


def test_generator_runs_up_to_the_last_covered_day():
    year = max(workdays.official_calendar().years)  # the next year is not covered
    last = dt.date(year, 12, 30)
    cfg = g.GeneratorConfig(seed=3, decisions=200, start=last - dt.timedelta(days=9), days=10, horizon=last)
    items = list(g.Generator(cfg).iter_decisions())
    assert len(items) >= 200
    for item in items:  # nothing planned after the horizon
        for event in item["manifest"].get("events", []):
            assert event["at"][:10] <= last.isoformat()
