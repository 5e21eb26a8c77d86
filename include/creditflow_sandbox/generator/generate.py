"""``generate_to``: the decision stream written to its targets (case DB, licensing DB, district files,
manifest), either all at once or — with a timeline — only the past, the rest as timed happenings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from creditflow_sandbox.generator.casedb import (
    CASE_TABLES,
    apply_events,
    apply_overrides,
    create_case_schema,
    insert_rows,
    supervision_rows,
)
from creditflow_sandbox.generator.config import GeneratorConfig, _ts
from creditflow_sandbox.generator.decisions import Generator
from creditflow_sandbox.generator.district import DistrictWriter
from creditflow_sandbox.generator.timeline import licence_happening, write_timeline


def generate_to(cfg: GeneratorConfig, case_db_url: str | None = None, licensing_db_url: str | None = None,
                inbox: str | Path | None = None, manifest: str | Path | None = None,
                apply_all_events: bool = True, timeline: str | Path | None = None) -> dict[str, Any]:
    """Generate into the given targets (any may be None to skip it). Returns counts.

    District files go to ``<inbox>/penalty/`` with their arrival time as modification time. Timed events
    are applied at once unless ``apply_all_events`` is False (then they wait in the manifest, for
    :func:`apply_events`). With ``timeline`` (a JSONL path), only the past is written: the case system
    gets its master and supervision data, the licensing system nothing, and every entry, licence and
    event goes to the timeline in time order, for :func:`~creditflow_sandbox.generator.timeline.advance_to`
    (it is held in memory: meant for demo sizes).
    """
    gen = Generator(cfg)
    case_engine = sa.create_engine(case_db_url) if case_db_url else None
    lic_engine = sa.create_engine(licensing_db_url) if licensing_db_url else None
    held: list[dict[str, Any]] | None = [] if timeline else None
    if case_engine is not None:
        create_case_schema(case_engine)
        with case_engine.begin() as conn:
            for t in reversed(CASE_TABLES):
                conn.execute(sa.text(f"DELETE FROM {t}"))
            now = _ts(cfg.start)
            insert_rows(conn, "enterprise",
                        [{**e, "created_at": now, "updated_at": now} for e in gen.parties.enterprises])
            insert_rows(conn, "person", [{**p, "created_at": now} for p in gen.parties.persons])
            supervision = supervision_rows(gen)
            for table in ("inspector", "accident", "inspection"):
                for i in range(0, len(supervision[table]), 5000):
                    insert_rows(conn, table, supervision[table][i:i + 5000])
    if lic_engine is not None:
        from creditflow_sandbox.licensing import metadata as lic_meta
        from creditflow_sandbox.licensing import upsert_licences

        lic_meta.create_all(lic_engine)
    writer = DistrictWriter(Path(inbox), gen.rng, cfg.corrupt_file_share, cfg.seed) if inbox else None
    mf = open(manifest, "w", encoding="utf-8") if manifest else None  # noqa: SIM115 — streamed
    counts: dict[str, Any] = {"decisions": 0, "case_penalty": 0, "case_coercion": 0, "licensing": 0, "district": 0,
                              "events": 0}
    buffers: dict[str, list[dict[str, Any]]] = {"enforcement_case": [], "penalty_decision": [],
                                                "coercive_measure": [], "licences": []}
    all_events: list[dict[str, Any]] = []
    overrides: list[dict[str, Any]] = []

    def flush() -> None:
        if case_engine is not None:
            with case_engine.begin() as conn:
                for t in ("enforcement_case", "penalty_decision", "coercive_measure"):
                    insert_rows(conn, t, buffers[t])
        if lic_engine is not None and buffers["licences"]:
            upsert_licences(lic_engine, buffers["licences"])
        for b in buffers.values():
            b.clear()

    current_day = None
    try:
        for d in gen.iter_decisions():
            day = d["manifest"]["decision_date"]
            if writer is not None and day != current_day:
                writer.flush(before=day)  # rows arriving before this decision day are complete
                current_day = day
            counts["decisions"] += 1
            counts[d["type"]] += 1
            late_insert = any(e.get("op") == "insert" for e in d.get("events", []))
            if d["type"] in ("case_penalty", "case_coercion") and not late_insert:
                table = "penalty_decision" if d["type"] == "case_penalty" else "coercive_measure"
                if held is not None:
                    held.append(_entry(d, table))
                else:
                    buffers["enforcement_case"].append(d["case"])
                    buffers[table].append(dict(d["row"]))
                    if d.get("uscc_override"):  # this decision's party has a mistyped code in the case file
                        overrides.append({"key": d["case"]["case_id"], "uscc": d["uscc_override"]})
            if d["type"] in ("case_penalty", "case_coercion"):
                all_events.extend(d["events"])
            elif d["type"] == "licensing":
                if held is not None:
                    held.append(licence_happening(d["item"]))
                else:
                    buffers["licences"].append(d["item"])
            elif writer is not None:
                writer.add(d["district"], d["day"], d["std"])
            if mf:
                mf.write(json.dumps(d["manifest"], ensure_ascii=False, default=str) + "\n")
            if sum(len(b) for b in buffers.values()) >= cfg.chunk:
                flush()
        flush()
        if writer is not None:
            writer.flush()
            counts["files"] = len(writer.files)
    finally:
        if mf:
            mf.close()
    if case_engine is not None:
        apply_overrides(case_engine, overrides)
    timed = sorted(all_events, key=lambda e: e["at"])
    counts["events"] = len(timed)
    if held is not None and timeline is not None:
        counts["timeline"] = write_timeline(timeline, [*held, *timed])
        counts["events_pending"] = len(timed)
        return counts
    if case_engine is not None and apply_all_events:
        apply_events(case_engine, timed, until=None)
    counts["events_pending"] = 0 if apply_all_events else len(timed)
    return counts


def _entry(d: dict[str, Any], table: str) -> dict[str, Any]:
    """A decision entered in the case system at its creation time, as a timeline insert. A party whose
    code was mistyped in this case gets its own enterprise row, entered with the case."""
    case = dict(d["case"])
    rows: dict[str, list[dict[str, Any]]] = {"enforcement_case": [case], table: [dict(d["row"])]}
    if d.get("uscc_override"):
        party = d["party"]
        wrong = {**party, "ent_id": "X" + case["case_id"][1:], "uscc": d["uscc_override"],
                 "created_at": case["created_at"], "updated_at": case["created_at"]}
        rows["enterprise"] = [wrong]
        case["ent_id"] = wrong["ent_id"]
    return {"at": d["row"]["created_at"], "op": "insert", "rows": rows}


def events_of(manifest: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted((e for m in manifest for e in m.get("events", [])), key=lambda e: e["at"])


def read_manifest(path: str | Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]

