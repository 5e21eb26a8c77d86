"""The planning data files' shapes: one pydantic model per file (and per CSV row), so that a file that does
not fit — a missing field, a mark other than S/M/local, an unknown criterion, ratios that do not lower the
draw for good credit — is refused with :class:`PlanDataError` naming the file, the field and the problem.
The files (``data/planning/``) stay the source of every value; :mod:`.params` assembles them."""

from __future__ import annotations

import csv
import datetime as dt
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Generic, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

MARKS = ("S", "M", "local")
CRITERIA = ("high_risk", "unrectified_major_hazard", "fatal_accident_last_year", "dishonest_last_year", "listed_now")
CREDIT_RULES = ("on_list_at_plan_start_or_last_year", "penalty_within_years", "clean_record", "otherwise")
GRADES = ("一级", "二级", "三级", "未定级")
RISK_LEVELS = ("重大", "较大", "一般", "低")  # Guangdong's four-level scale of the assessed safety risk


class PlanDataError(ValueError):
    """A planning data file is missing a field, has a bad value, or contradicts itself."""


def _mark(value: Any) -> str:
    if str(value) not in MARKS:
        raise ValueError(f"mark must be one of {MARKS}, got {value!r}")
    return str(value)


def _ratio(text: Any) -> Fraction:
    try:
        value = Fraction(str(text))
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"not a ratio: {text!r}") from None
    if not 0 <= value <= 1:
        raise ValueError(f"ratio {text} outside [0, 1]")
    return value


Mark = Annotated[str, BeforeValidator(_mark)]
Ratio = Annotated[Fraction, BeforeValidator(_ratio)]
T = TypeVar("T")


class _Model(BaseModel):
    model_config = ConfigDict(coerce_numbers_to_str=True, arbitrary_types_allowed=True)


class Value(_Model, Generic[T]):
    """A parameter given with its source and mark: ``{value: …, source: …, mark: S|M|local}``."""

    value: T
    source: str
    mark: Mark


class WorkloadEntry(_Model):
    id: str
    group: str
    name_zh: str
    per_inspector: float | None = None
    per_unit: float | None = None
    source: str
    mark: Mark

    @field_validator("group")
    @classmethod
    def _group(cls, v: str) -> str:
        if v not in ("other_enforcement", "non_enforcement"):
            raise ValueError("group must be other_enforcement or non_enforcement")
        return v

    @model_validator(mode="after")
    def _days(self) -> WorkloadEntry:
        if (self.per_inspector is None) == (self.per_unit is None):
            raise ValueError("give exactly one of per_inspector / per_unit")
        if self.days < 0:
            raise ValueError("negative days")
        return self

    @property
    def days(self) -> float:
        return self.per_inspector if self.per_inspector is not None else self.per_unit  # type: ignore[return-value]


def _team_days(v: Value[float]) -> Value[float]:
    if v.value not in (0.5, 1.0):
        raise ValueError(f"only 0.5 or 1 team-day, got {v.value}")
    return v


TeamDays = Annotated[Value[float], AfterValidator(_team_days)]


class DaysPerCheck(_Model):
    key: TeamDays
    general: TeamDays


class WorkloadFile(_Model):
    inspectors_per_check: Value[int]
    key_share: Value[float]
    days_per_check: DaysPerCheck
    items: list[WorkloadEntry]

    @field_validator("key_share")
    @classmethod
    def _share(cls, v: Value[float]) -> Value[float]:
        if not 0 < v.value < 1:
            raise ValueError(f"{v.value} must be between 0 and 1")
        return v

    @field_validator("items")
    @classmethod
    def _unique(cls, items: list[WorkloadEntry]) -> list[WorkloadEntry]:
        if len({i.id for i in items}) != len(items):
            raise ValueError("item ids must be unique")
        return items


class InspectorDays(_Model):
    inspector_id: str
    item_id: str
    days: float
    note: str | None = None
    source: str = ""
    mark: Mark


class IndustryRow(_Model):
    industry: str
    sector_group: str
    hazard_points: int
    department: str
    source: str
    mark: Mark


class TagRow(_Model):
    tag: str
    points: int
    source: str
    mark: Mark


class CapRow(_Model):
    regime: str
    sector_group: str
    standard_grade: str
    max_per_year: int
    source: str
    mark: Mark

    @field_validator("standard_grade")
    @classmethod
    def _grade(cls, v: str) -> str:
        if v not in GRADES:
            raise ValueError(f"unknown grade {v!r}")
        return v


class CriterionEntry(_Model):
    id: str
    name_zh: str
    min_per_year: int
    quarterly: bool = False
    classes: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    source: str
    mark: Mark

    @field_validator("classes", "levels", mode="before")
    @classmethod
    def _none_is_empty(cls, v: Any) -> Any:
        return () if v is None else v

    @model_validator(mode="after")
    def _known(self) -> CriterionEntry:
        if self.id not in CRITERIA:
            raise ValueError(f"unknown criterion {self.id!r} (known: {', '.join(CRITERIA)})")
        if set(self.levels) - set(RISK_LEVELS):
            raise ValueError(f"levels must be among {', '.join(RISK_LEVELS)}, got {list(self.levels)}")
        if self.id == "high_risk" and not self.levels:
            raise ValueError("needs levels (the assessed risk levels that make a unit key)")
        return self


class RegimeEntry(_Model):
    id: str
    title_zh: str
    effective_from: dt.date
    key_min_per_year: Value[int]
    general_cycle_years: Value[int]
    caps: str = "none"
    criteria: list[CriterionEntry]
    source: str
    mark: Mark


class PerClass(_Model):
    per_year: dict[str, int]
    source: str
    mark: Mark


class KeyRulesFile(_Model):
    regimes: list[RegimeEntry]
    key_frequency_by_class: PerClass


class Section(_Model):
    model_config = ConfigDict(extra="allow")
    source: str
    mark: Mark

    def points(self) -> Any:
        extra = self.model_extra or {}
        return extra["points"] if "points" in extra else dict(extra)


class ClassEntry(_Model):
    code: str
    name_zh: str
    min_score: int


class Classes(_Model):
    entries: list[ClassEntry] = Field(alias="list")
    source: str
    mark: Mark

    @model_validator(mode="after")
    def _descending(self) -> Classes:
        scores = [c.min_score for c in self.entries]
        if not scores or scores != sorted(scores, reverse=True) or scores[-1]:
            raise ValueError("min_score must decrease and end at 0")
        return self


class RiskFile(_Model):
    lookback_years: dict[str, Value[int]]
    risk_level: Section
    standard_grade: Section
    accidents: Section
    inspections: Section
    credit: Section
    classes: Classes


class Status(_Model):
    name_zh: str
    rule: str
    years: int | None = None

    @field_validator("rule")
    @classmethod
    def _rule(cls, v: str) -> str:
        if v not in CREDIT_RULES:
            raise ValueError(f"unknown rule {v!r}")
        return v


class CreditFile(_Model):
    statuses: list[Status]
    good_credit_excludes_key_supervision: Value[bool]
    source: str
    mark: Mark


class Ratios(_Model):
    good: Ratio
    ordinary: Ratio
    bad: Ratio

    @model_validator(mode="after")
    def _credit_lowers(self) -> Ratios:
        if not self.good <= self.ordinary <= self.bad or self.good == self.bad:
            raise ValueError("need good ≤ ordinary ≤ bad and good < bad (守信减频)")
        return self


class DoubleRandomFile(_Model):
    exclusion_months: Value[int]
    exclusion_applies_to: Value[list[str]]
    min_team_size: Value[int]
    ratios: dict[str, Ratios]
    source: str
    mark: Mark

    @field_validator("exclusion_applies_to")
    @classmethod
    def _groups(cls, v: Value[list[str]]) -> Value[list[str]]:
        if not set(v.value) <= {"good", "ordinary", "bad"}:
            raise ValueError("only good, ordinary, bad")
        return v

    @field_validator("min_team_size")
    @classmethod
    def _team(cls, v: Value[int]) -> Value[int]:
        if v.value < 2:
            raise ValueError("at least 2 inspectors per inspection")
        return v


class ItemsFile(_Model):
    items: list[dict[str, Any]]


M_ = TypeVar("M_", bound=BaseModel)


def _check(model: type[M_], data: Any, where: str) -> M_:
    """``data`` as ``model``, or :class:`PlanDataError` naming the file, the field (and the entry's id) and
    what is wrong with it (the first problem found)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc, node = "", data
        for part in err["loc"]:
            loc += f"[{part}]" if isinstance(part, int) else f".{part}"
            node = node[part] if isinstance(node, list | dict) and _has(node, part) else None  # type: ignore[index]
            if isinstance(part, int) and isinstance(node, dict) and node.get("id") is not None:
                loc += f" {node['id']!r}"
        if err["type"] == "missing" or (err.get("input", 0) is None and err["type"].endswith("_type")):
            msg = f"missing {str(err['loc'][-1])!r}"
        elif err["type"] in ("value_error", "assertion_error"):
            msg = str(err["ctx"]["error"])
        else:
            msg = f"{err['msg']}, got {err.get('input')!r}"
        raise PlanDataError(f"{where}{loc}: {msg}") from None


def _has(node: list[Any] | dict[Any, Any], part: Any) -> bool:
    return part in node if isinstance(node, dict) else isinstance(part, int) and 0 <= part < len(node)


def read_yaml(path: Path, model: type[M_]) -> tuple[M_, dict[str, Any]]:
    """The file checked as ``model``, and its raw mapping."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PlanDataError(f"{path.name}: cannot read: {exc}") from None
    if not isinstance(data, dict):
        raise PlanDataError(f"{path.name}: not a mapping")
    return _check(model, data, path.name), data


def read_csv(path: Path, model: type[M_]) -> list[M_]:
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            rows = [dict(r) for r in csv.DictReader(fh)]
    except OSError as exc:
        raise PlanDataError(f"{path.name}: cannot read: {exc}") from None
    return [_check(model, row, f"{path.name} row {i}") for i, row in enumerate(rows, 2)]
