"""The case system's database (执法案件系统): its schema, the master and supervision data, and the timed
events (late entries, edits, revocations, fixes) applied in time order."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from creditflow_sandbox.generator.decisions import Generator

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"


def create_case_schema(engine: sa.Engine) -> None:
    ddl = (SQL_DIR / "casedb" / "schema.sql").read_text(encoding="utf-8")
    with engine.begin() as conn:
        for statement in _split_sql(ddl):
            conn.exec_driver_sql(statement)


def _split_sql(text: str) -> list[str]:
    lines = [ln for ln in text.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


CASE_TABLES = ("enterprise", "person", "inspector", "accident", "inspection", "enforcement_case",
               "penalty_decision", "coercive_measure")
DEPARTMENTS = ("危险化学品安全监督管理科", "工贸行业安全监督管理科", "执法监督科", "综合协调科")


def supervision_rows(gen: Generator) -> dict[str, list[dict[str, Any]]]:
    """The inspector roster, accidents and inspections of the enterprises (for the inspection plan).

    Deterministic by seed, drawn from its own RNG so that adding them changes no decision. Rates are
    realistic orders of magnitude, not statistics: ~1.5% of units with an accident in the year (mostly
    一般, a few 较大, rare concealment), about two inspections per key-supervision unit and one per other
    unit in the year before the data start, ≥ 2 inspectors each; and the older history (one inspection in
    the four years before that for ~90% of units, the rest never inspected).
    """
    rng = random.Random(gen.cfg.seed + 1)
    fake = gen.parties.fake
    inspectors: list[dict[str, Any]] = [
        {"inspector_id": f"I{i:04d}", "inspector_name": fake.name(), "cert_no": f"粤应急执{440400 + i:08d}",
                   "department": DEPARTMENTS[i % len(DEPARTMENTS)], "active": 1 if rng.random() > 0.05 else 0}
                  for i in range(max(8, min(200, len(gen.parties.enterprises) // 250)))]
    year_start = gen.cfg.start - dt.timedelta(days=365)
    accidents: list[dict[str, Any]] = []
    inspections: list[dict[str, Any]] = []
    for ent in gen.parties.enterprises:
        if rng.random() < 0.015:
            level = rng.choices(["一般", "较大", "重大"], [0.9, 0.09, 0.01])[0]
            deaths = {"一般": rng.choice([0, 0, 1, 2]), "较大": rng.randint(3, 9), "重大": rng.randint(10, 29)}[level]
            accidents.append({"accident_id": f"A{len(accidents):06d}", "ent_id": ent["ent_id"],
                              "occurred_on": year_start + dt.timedelta(days=rng.randrange(365)),
                              "accident_level": level, "deaths": deaths, "injuries": rng.randint(0, 5),
                              "concealed": 1 if rng.random() < 0.05 else 0, "description": "生产安全事故"})
        for _ in range(rng.choice([1, 2, 2, 3]) if ent["key_supervision"] else rng.choice([0, 1, 1])):
            team = rng.sample(inspectors, 2)
            problems = rng.choice([0, 1, 2, 3, 5, 8])
            inspections.append({"inspection_id": f"N{len(inspections):07d}", "ent_id": ent["ent_id"],
                                "inspected_on": year_start + dt.timedelta(days=rng.randrange(365)),
                                "inspector_ids": ",".join(str(t["inspector_id"]) for t in team),
                                "problems_found": problems,
                                "major_hazards": 1 if problems >= 5 and rng.random() < 0.3 else 0,
                                "rectified": 1 if rng.random() < 0.85 else 0})
    inspections += _earlier_inspections(gen, inspectors, year_start, len(inspections))
    return {"inspector": inspectors, "accident": accidents, "inspection": inspections}


def _earlier_inspections(gen: Generator, inspectors: list[dict[str, Any]], before: dt.date,
                         first: int) -> list[dict[str, Any]]:
    """The older history the case system keeps: most units were last inspected some time in the four years
    before the recent year (so some are due under the once-in-three-years cycle), a few never; now and then
    a major hazard found then is still unrectified. Its own RNG: the recent data stays what it was."""
    rng = random.Random(f"earlier-inspections:{gen.cfg.seed}")
    out: list[dict[str, Any]] = []
    for ent in gen.parties.enterprises:
        if rng.random() < 0.1:
            continue  # never inspected
        major = 1 if rng.random() < 0.005 else 0
        team = rng.sample(inspectors, 2)
        out.append({"inspection_id": f"N{first + len(out):07d}", "ent_id": ent["ent_id"],
                    "inspected_on": before - dt.timedelta(days=rng.randrange(1, 4 * 365)),
                    "inspector_ids": ",".join(str(t["inspector_id"]) for t in team),
                    "problems_found": 5 if major else rng.choice([0, 0, 1, 2, 3]), "major_hazards": major,
                    "rectified": 0 if major and rng.random() < 0.5 else 1})
    return out


def insert_rows(conn: sa.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    cols = list(rows[0])
    conn.execute(sa.text(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"),
                 rows)


def apply_overrides(engine: sa.Engine, overrides: list[dict[str, Any]]) -> None:
    """A party whose code was mistyped *in this case*: the case points at its own enterprise row."""
    with engine.begin() as conn:
        for o in overrides:
            case = conn.execute(sa.text("SELECT ent_id FROM enforcement_case WHERE case_id = :c"),
                                {"c": o["key"]}).first()
            if case is None:  # a late entry: its case row arrives with the insert event
                continue
            ent = conn.execute(sa.text("SELECT * FROM enterprise WHERE ent_id = :e"), {"e": case[0]}).mappings().first()
            row = dict(ent or {})
            row.update(ent_id="X" + o["key"][1:], uscc=o["uscc"])
            insert_rows(conn, "enterprise", [row])
            conn.execute(sa.text("UPDATE enforcement_case SET ent_id = :n WHERE case_id = :c"),
                         {"n": row["ent_id"], "c": o["key"]})


#: Tables an event may touch and their keys, in the order an insert writes them.
_KEYS = {"enterprise": "ent_id", "enforcement_case": "case_id", "penalty_decision": "decision_id",
         "coercive_measure": "measure_id"}


def _typed(key: str, value: Any) -> Any:
    if isinstance(value, str) and (key.endswith("_at")):
        return dt.datetime.fromisoformat(value)
    if isinstance(value, str) and (key.endswith("_date") or key == "effect_until"):
        return dt.date.fromisoformat(value)
    return value


def apply_events(engine: sa.Engine, events: list[dict[str, Any]], until: dt.datetime | None, *,
                 before: dt.datetime | None = None) -> int:
    """Apply the case-system events with ``at`` ≤ ``until`` (all when None) — or, given ``before``, those
    with ``at`` < ``before`` — in time order; returns how many. Times are local and naive, as the case
    system records them.

    An event is an update (``table``, ``key``, ``set``) or an insert (``op: insert``, ``rows`` by table:
    a late entry, or in a timeline every entry). Applying the same events again is harmless (updates set
    values; inserts skip existing keys).
    """
    done = 0
    with engine.begin() as conn:
        for e in sorted(events, key=lambda e: str(e["at"])):
            at = e["at"] if isinstance(e["at"], dt.datetime) else dt.datetime.fromisoformat(e["at"])
            if (until is not None and at > until) or (before is not None and at >= before):
                continue
            if e.get("op") == "insert":
                for table, key in _KEYS.items():
                    for row in e["rows"].get(table, []):
                        exists = conn.execute(sa.text(f"SELECT 1 FROM {table} WHERE {key} = :k"),
                                              {"k": row[key]}).first()
                        if not exists:
                            insert_rows(conn, table, [{k: _typed(k, v) for k, v in row.items()}])
            else:
                sets = ", ".join(f"{k} = :{k}" for k in e["set"])
                values = {k: _typed(k, v) for k, v in e["set"].items()}
                conn.execute(sa.text(f"UPDATE {e['table']} SET {sets} WHERE {_KEYS[e['table']]} = :_key"),
                             {**values, "_key": e["key"]})
            done += 1
    return done
