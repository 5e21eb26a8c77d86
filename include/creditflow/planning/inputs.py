"""What the plan is computed from: the case system (enterprises, inspectors, accidents, past inspections,
penalty decisions) and pluggable inputs that have no system yet — the serious-dishonesty list (the list
capability will provide it; empty until then), hazard tags (粉尘涉爆, 有限空间, 人员密集 …) and known
conflicts of interest between inspectors and enterprises.

Only records dated before ``as_of`` are read (default: 1 January of the plan year), so re-running a
year's plan on the same database gives the same inputs whatever the day.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa


@dataclass(frozen=True)
class Enterprise:
    ent_id: str
    uscc: str
    name: str
    district_code: str
    district_name: str
    industry: str
    key_supervision: bool
    standard_grade: str
    risk_level: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Inspector:
    inspector_id: str
    name: str
    department: str


@dataclass(frozen=True)
class Accident:
    ent_id: str
    occurred_on: dt.date
    level: str
    deaths: int
    concealed: bool


@dataclass(frozen=True)
class PastInspection:
    ent_id: str
    inspected_on: dt.date
    inspector_ids: tuple[str, ...]
    problems: int
    major_hazards: int
    rectified: bool


@dataclass(frozen=True)
class Penalty:
    ent_id: str
    decision_date: dt.date
    doc_no: str


@dataclass(frozen=True)
class ListedParty:
    """An entry of the 安全生产严重失信主体名单 (部令第11号), matched to enterprises by USCC."""

    uscc: str
    name: str
    listed_on: dt.date
    removed_on: dt.date | None
    reason: str

    def on_list_during(self, start: dt.date, end: dt.date) -> bool:
        return self.listed_on <= end and (self.removed_on is None or self.removed_on >= start)


@dataclass(frozen=True)
class Conflict:
    inspector_id: str
    ent_key: str  # ent_id or USCC
    reason: str


class DishonestyListSource(Protocol):
    """Where the serious-dishonesty list comes from (the list capability implements this when it lands)."""

    def entries(self) -> list[ListedParty]: ...


class NoDishonestyList:
    """Today's source: the list capability has not landed, so nobody is listed."""

    description = "严重失信主体名单：名单能力尚未上线，本计划按空名单编制"

    def entries(self) -> list[ListedParty]:
        return []


class CsvDishonestyList:
    """A CSV export of the list: uscc, name, listed_on, removed_on (empty while listed), reason."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.description = f"严重失信主体名单：{self.path.name}"

    def entries(self) -> list[ListedParty]:
        out = []
        for row in _read_csv(self.path, ("uscc", "listed_on")):
            if not _cell(row, "uscc"):
                raise InputError(f"{self.path}: a row without uscc")
            out.append(ListedParty(_cell(row, "uscc"), _cell(row, "name"), _date(_cell(row, "listed_on")),
                                   _date(row["removed_on"]) if _cell(row, "removed_on") else None,
                                   _cell(row, "reason")))
        return out


@dataclass
class PlanInputs:
    enterprises: list[Enterprise]
    inspectors: list[Inspector]
    accidents: list[Accident] = field(default_factory=list)
    inspections: list[PastInspection] = field(default_factory=list)
    penalties: list[Penalty] = field(default_factory=list)
    listed: list[ListedParty] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    as_of: dt.date | None = None
    list_source: str = NoDishonestyList.description
    # Each unit's last inspection before ``as_of``, however long ago (the once-in-three-years cycle of
    # general units runs over the whole history, not over the risk score's look-back window).
    last_inspected: dict[str, dt.date] = field(default_factory=dict)
    # What the inputs could not read as the rules expect (an assessed risk level outside the four levels …):
    # listed in the plan, never silently replaced.
    data_problems: list[str] = field(default_factory=list)


class InputError(ValueError):
    """An input file or database cannot be read as planning input."""


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise InputError(f"not a date: {value!r}") from None


def _read_csv(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = [dict(r) for r in csv.DictReader(fh)]
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: not a UTF-8 CSV file ({type(exc).__name__})") from None
    if rows and any(c not in rows[0] for c in required):
        raise InputError(f"{path}: needs columns {', '.join(required)}")
    return rows


def _cell(row: dict[str, str], key: str) -> str:
    """A cell's text, empty for a missing or short row's cell."""
    value = row.get(key)
    return value.strip() if isinstance(value, str) else ""


def read_conflicts(path: str | Path) -> list[Conflict]:
    """Conflicts of interest: inspector_id, ent_key (ent_id or USCC), reason."""
    return [Conflict(_cell(r, "inspector_id"), _cell(r, "ent_key"), _cell(r, "reason"))
            for r in _read_csv(Path(path), ("inspector_id", "ent_key"))]


def read_hazard_tags(path: str | Path) -> dict[str, tuple[str, ...]]:
    """Hazard tags per enterprise: ent_key (ent_id or USCC), tag — one row per tag."""
    tags: dict[str, list[str]] = {}
    for r in _read_csv(Path(path), ("ent_key", "tag")):
        if _cell(r, "ent_key") and _cell(r, "tag"):
            tags.setdefault(_cell(r, "ent_key"), []).append(_cell(r, "tag"))
    return {k: tuple(sorted(set(v))) for k, v in tags.items()}


def open_engine(db: str | sa.Engine, what: str) -> sa.Engine:
    """An engine on ``db``; a SQLite file that does not exist is refused (connecting would create it empty)."""
    if isinstance(db, sa.Engine):
        return db
    try:
        url = sa.engine.make_url(db)
    except (sa.exc.ArgumentError, ValueError):
        raise InputError(f"{what}: not a database URL: {db!r}") from None
    if url.drivername.startswith("sqlite") and url.database not in (None, "", ":memory:") \
            and not Path(url.database).exists():
        raise InputError(f"{what}: no such SQLite file: {url.database}")
    try:
        return sa.create_engine(url)
    except (sa.exc.SQLAlchemyError, ImportError, ValueError) as exc:
        raise InputError(f"{what}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from None


def history_start(year: int, years: int) -> dt.date:
    return dt.date(year - years, 1, 1)


UNASSESSED = "未评估"


def risk_level_of(raw: Any, risk: dict[str, Any]) -> tuple[str, str | None]:
    """The assessed risk level on the four-level scale (重大/较大/一般/低, ``risk_weights.yaml`` risk_level
    points) of a case-system value, and a problem text when the value is none of them: spaces dropped,
    ``较大风险`` / ``较大风险等级`` read as 较大, Guangdong's colours (红/橙/黄/蓝) through ``aliases``. Blank is
    未评估 (no problem); anything else is 未评估 with the problem named."""
    from creditflow.planning.params import RISK_LEVELS

    text = "".join(str(raw or "").split())
    if not text or text == UNASSESSED:
        return UNASSESSED, None
    aliases = {str(k): str(v) for k, v in ((risk.get("risk_level") or {}).get("aliases") or {}).get("map", {}).items()}
    for candidate in (text, text.removesuffix("等级"), text.removesuffix("等级").removesuffix("风险")):
        if candidate in RISK_LEVELS:
            return candidate, None
        if candidate in aliases:
            return aliases[candidate], None
    return UNASSESSED, f"风险评估等级“{text}”不是重大/较大/一般/低（或红/橙/黄/蓝）之一，按未评估计，请核对案件系统"


def lookback_years(params: Any) -> int:
    """How many whole years before the plan year the inputs are read: the longest look-back of the risk score
    (``risk_weights.yaml`` lookback_years)."""
    return max(int(e["value"]) for e in params.risk["lookback_years"].values())


def load_case_db(db: str | sa.Engine, year: int, as_of: dt.date | None = None, history_years: int | None = None,
                 list_source: DishonestyListSource | None = None,
                 hazard_tags: dict[str, tuple[str, ...]] | None = None,
                 conflicts: list[Conflict] | None = None, params: Any = None) -> PlanInputs:
    """Read the planning inputs from the case system database (a SQLAlchemy URL or engine). The look-back
    (``history_years``) and the risk-level reading come from the plan year's rule data (``params``, default
    :func:`creditflow.planning.params.load_parameters`)."""
    from creditflow.planning.params import load_parameters

    params = params or load_parameters(year)
    engine = open_engine(db, "case database")
    until = as_of or dt.date(year, 1, 1)
    since = history_start(year, history_years if history_years is not None else lookback_years(params))
    tags = hazard_tags or {}
    try:
        with engine.connect() as conn:
            ents = conn.execute(sa.text(
                "SELECT ent_id, uscc, ent_name, district_code, district_name, industry, key_supervision, "
                "standard_grade, risk_level FROM enterprise ORDER BY ent_id")).all()
            insp = conn.execute(sa.text(
                "SELECT inspector_id, inspector_name, department FROM inspector WHERE active = 1 "
                "ORDER BY inspector_id")).all()
            acc = conn.execute(sa.text(
                "SELECT ent_id, occurred_on, accident_level, deaths, concealed FROM accident "
                "WHERE occurred_on >= :since AND occurred_on < :until ORDER BY accident_id"),
                {"since": since, "until": until}).all()
            # The look-back window, plus every major hazard still unrectified however old it is: it is
            # overdue (已超期) all the more, and the window must not hide it.
            past = conn.execute(sa.text(
                "SELECT ent_id, inspected_on, inspector_ids, problems_found, major_hazards, rectified "
                "FROM inspection WHERE inspected_on < :until AND (inspected_on >= :since "
                "OR (major_hazards > 0 AND rectified = 0)) ORDER BY inspection_id"),
                {"since": since, "until": until}).all()
            last = conn.execute(sa.text(
                "SELECT ent_id, MAX(inspected_on) FROM inspection WHERE inspected_on < :until GROUP BY ent_id"),
                {"until": until}).all()
            pen = conn.execute(sa.text(
                "SELECT c.ent_id, d.decision_date, d.doc_no FROM penalty_decision d "
                "JOIN enforcement_case c ON c.case_id = d.case_id "
                "WHERE c.ent_id IS NOT NULL AND d.status = 'VALID' AND d.decision_date >= :since "
                "AND d.decision_date < :until ORDER BY d.decision_id"),
                {"since": since, "until": until}).all()
    except sa.exc.SQLAlchemyError as exc:
        raise InputError(f"case database: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from None
    enterprises, problems = [], []
    for r in ents:
        level, problem = risk_level_of(r[8], params.risk)
        if problem:
            problems.append(f"{r[0]} {r[2]}：{problem}")
        enterprises.append(Enterprise(str(r[0]), str(r[1] or ""), str(r[2]), str(r[3]), str(r[4]), str(r[5]),
                                      bool(r[6]), str(r[7] or "未定级"), level,
                                      tags.get(str(r[0]), tags.get(str(r[1] or ""), ()))))
    source = list_source or NoDishonestyList()
    return PlanInputs(
        enterprises=enterprises,
        inspectors=[Inspector(str(r[0]), str(r[1]), str(r[2])) for r in insp],
        accidents=[Accident(str(r[0]), _date(r[1]), str(r[2]), int(r[3] or 0), bool(r[4])) for r in acc],
        inspections=[PastInspection(str(r[0]), _date(r[1]), tuple(x.strip() for x in str(r[2]).split(",") if x.strip()),
                                    int(r[3] or 0), int(r[4] or 0), bool(r[5])) for r in past],
        penalties=[Penalty(str(r[0]), _date(r[1]), str(r[2] or "")) for r in pen if r[1] is not None],
        listed=source.entries(), conflicts=list(conflicts or []), as_of=until,
        list_source=str(getattr(source, "description", type(source).__name__)),
        last_inspected={str(r[0]): _date(r[1]) for r in last if r[1] is not None}, data_problems=problems)
