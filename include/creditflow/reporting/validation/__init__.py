"""Quality rules of the 双公示 standard, generated from the field dictionary, and their evaluation.

One rule list (:func:`rules_for`) drives two engines that must agree row for row:

* :func:`validate_gx` — Great Expectations 1.x, the pipeline's path: every rule evaluated vectorised into
  a failure column, one GX expectation per rule counting its failures (数据质量报告 shows the counts per
  rule; GX's counts must equal the findings) (:mod:`.gx`);
* :func:`validate_pandas` — the same rules hand-vectorised in pandas, the benchmark floor (:mod:`.engines`).

Input is a *standardised* frame (see :mod:`creditflow.reporting.standardise`): one column per field code,
text values or ``None``, dates in ISO form where readable, amounts in 万元 as decimal text, and a unique
``_row`` column; any other value is turned into text first, and no value makes either engine raise.
Output is a frame of findings: ``_row, field, rule_id, severity, detail``.

Modules: :mod:`.catalogue` (rule ids, messages, thresholds, the rule list), :mod:`.predicates` (the
vectorised checks), :mod:`.text` (the text rules' patterns, predicates and details), :mod:`.engines`
(input frame, findings, pandas engine), :mod:`.gx` (GX engine).
"""

from __future__ import annotations

from creditflow.reporting.validation.catalogue import (
    ISSUE_COLUMNS,
    ORG,
    PERSON,
    Rule,
    RuleInfo,
    message_zh,
    rule_catalogue,
    rules_for,
    thresholds,
)
from creditflow.reporting.validation.engines import prepare, rule_ok, validate_pandas, with_messages
from creditflow.reporting.validation.gx import build_suite, failure_indicators, validate_gx
from creditflow.reporting.validation.predicates import PREDICATES, Predicate, predicate

__all__ = [
    "ISSUE_COLUMNS",
    "ORG",
    "PERSON",
    "PREDICATES",
    "Predicate",
    "Rule",
    "RuleInfo",
    "build_suite",
    "failure_indicators",
    "message_zh",
    "predicate",
    "prepare",
    "rule_catalogue",
    "rule_ok",
    "rules_for",
    "thresholds",
    "validate_gx",
    "validate_pandas",
    "with_messages",
]
