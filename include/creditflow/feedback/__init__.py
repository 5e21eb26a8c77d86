"""Feedback reports to 珠海市信用办: the 双公示月报 and the internal weekly quality report.

A report covers the decisions made in a period and states its figures as of a cut-off, computed only
from the warehouse's timestamped history — so the same period and cut-off give the same figures
whenever (and however often) the report is made.

Modules: ``periods`` (months, ISO weeks, cut-offs, the rule data in ``data/reports/``), ``facts`` (what the
warehouse knew at the cut-off), ``figures`` (per-record state and the headline figures), ``details``
(承办科室, 区县, completeness, the lists), ``sections`` (the credit sections: dishonesty list, credit repair),
``build`` (the report as one JSON-able dict), ``xlsx`` / ``pdf`` (the files), ``store`` (where they live,
the download listing, the e-mail), ``gate`` (has the pipeline settled for the period), ``cli``.
"""

from creditflow.feedback.build import cli_summary, compute, dumps
from creditflow.feedback.gate import pipeline_settled
from creditflow.feedback.periods import Period, PeriodError, cut_off_of, parse_period, period_before, resolve_cut_off
from creditflow.feedback.store import email_content, list_reports, save, write_files

__all__ = ["Period", "PeriodError", "cli_summary", "compute", "cut_off_of", "dumps", "email_content",
           "list_reports", "parse_period", "period_before", "pipeline_settled", "resolve_cut_off", "save",
           "write_files"]
