"""Realistic dirty data for the sandboxes, with a ground-truth manifest of what the pipeline must do.

``generate_to`` streams decisions (deterministic by seed) into three sources — the case system
(penalties, coercive measures), the licensing system and district spreadsheets — with defects at
configurable rates. Every decision gets one manifest line (JSON): its source, record id, natural key
and the outcome the pipeline must reach:

* ``uploaded`` (``late`` when entered after its due date), ``quarantined`` (with ``rule``/``field``),
  ``duplicate`` (``duplicate_of`` a record id), ``corrected`` (更正 after an edit), ``withdrawn``
  (撤销 after a revocation), ``revoked_unpublished``;
* ``review``: the reason when the record needs a human at some level (natural persons, near
  duplicates, corrections, withdrawals); ``review_decision`` is what a correct reviewer decides;
* ``party``: whom the decision concerns — a natural person's name and ID number, or an enterprise's name,
  USCC and legal representative: the personal data the auditor's scan looks for (``creditflow audit pii-scan``).

Changes that happen *after* a decision was first entered (late entry, edit, revocation, fix of a
quarantined record) are **events** with a timestamp, written to the manifest and applied by
:func:`apply_events` — so a test can run the pipeline day by day and apply each day's events in
between, as in real life. District files land in ``<inbox>/penalty/`` with their **arrival time as
modification time** (the pipeline claims, for day D, the files that arrived before D+1 06:00).

A demo that walks the days generates with a ``horizon`` (every change inside its window) and a
``timeline``: only the past is seeded, and :func:`advance_to` brings the sources to each run's
scheduled start (:func:`run_cutoff`), releasing district files from a drop folder as they arrive.

Modules: ``config`` (defects, rates, configuration, vocabulary), ``parties``, ``decisions`` (the
stream), ``casedb`` (schema, supervision data, events), ``district`` (spreadsheets, arrival times,
release), ``timeline`` (held-back happenings), ``generate`` (``generate_to``).
"""

from __future__ import annotations

from creditflow_sandbox.generator.casedb import (
    CASE_TABLES,
    DEPARTMENTS,
    SQL_DIR,
    apply_events,
    create_case_schema,
    supervision_rows,
)
from creditflow_sandbox.generator.config import (
    DEFAULT_RATES,
    DEFECTS,
    SOURCE_SHARES,
    TZ_OFFSET,
    USCC_BODY,
    GeneratorConfig,
    vocabulary,
)
from creditflow_sandbox.generator.decisions import Generator
from creditflow_sandbox.generator.district import DISTRICT_KIND, DistrictWriter, arrival_time, release_files
from creditflow_sandbox.generator.generate import events_of, generate_to, read_manifest
from creditflow_sandbox.generator.parties import Parties, corrupt_check, make_ric, make_uscc
from creditflow_sandbox.generator.timeline import advance_to, read_timeline, run_cutoff, write_timeline

__all__ = [
    "CASE_TABLES", "DEFAULT_RATES", "DEFECTS", "DEPARTMENTS", "DISTRICT_KIND", "SOURCE_SHARES", "SQL_DIR",
    "TZ_OFFSET", "USCC_BODY", "DistrictWriter", "Generator", "GeneratorConfig", "Parties", "advance_to",
    "apply_events", "arrival_time", "corrupt_check", "create_case_schema", "events_of", "generate_to",
    "make_ric", "make_uscc", "read_manifest", "read_timeline", "release_files", "run_cutoff",
    "supervision_rows", "vocabulary", "write_timeline",
]
