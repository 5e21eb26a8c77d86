"""Shared pieces of the 双公示 pipeline stages: the run, its sources and options, policy files."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from creditflow.common import DAILY_RUN_DELAY
from creditflow.core.platform_client import LicensingClient
from creditflow.core.storage import Storage

log = logging.getLogger(__name__)
SQL_DIR = Path(__file__).resolve().parents[3] / "sql"
OUTCOMES = ("uploaded", "quarantined", "awaiting_review", "unchanged", "duplicate")
SOURCES_OF_KIND = {"penalty": ("case_db", "district_file"), "license": ("licensing_api", "district_file"),
                   "coercion": ("case_db", "district_file")}
SOURCE_FIELDS = {"_SJLY", "_SJLYDM", "_LYDW", "_LYDWDM"}


class ReconciliationError(RuntimeError):
    """Extracted records and outcomes do not add up: something was lost or counted twice."""


@dataclass(frozen=True)
class Run:
    dag_id: str
    kind: str
    start: dt.datetime  # data interval, aware, local time (Asia/Shanghai)
    end: dt.datetime

    @property
    def run_key(self) -> str:
        return f"{self.dag_id}|{self.start.date().isoformat()}"

    @property
    def as_of(self) -> dt.date:
        """Last day of the data (reference for 'not in the future')."""
        return (self.end - dt.timedelta(microseconds=1)).date()

    @property
    def scheduled_start(self) -> dt.datetime:
        """When the run for this interval is due to start (the interval end + the daily run delay): the
        inbox step claims the files that had arrived before this moment, whenever the run really executes."""
        return self.end + DAILY_RUN_DELAY

    @property
    def run_date(self) -> dt.date:
        """The day the upload happens on (for lateness): the interval end date."""
        return self.end.date()


@dataclass
class Sources:
    case_db: sa.Engine | None = None
    licensing: LicensingClient | None = None
    inbox: Path | Storage | None = None  # the district inbox: a local folder or any fsspec storage


@cache
def review_policy() -> dict[str, Any]:
    return yaml.safe_load((resources.files("creditflow") / "data" / "rules" / "review_policy.yaml")
                          .read_text(encoding="utf-8"))


@cache
def dedup_config() -> dict[str, Any]:
    return yaml.safe_load((resources.files("creditflow") / "data" / "rules" / "dedup.yaml")
                          .read_text(encoding="utf-8"))


@cache
def raw_personal_paths(source_system: str, kind: str) -> tuple[str, ...]:
    """The fields of a source's raw row (``a.b`` for nested ones) that feed a personal field of the data
    standard (``data/standard/personal_fields.yaml`` through ``data/mapping/sources.yaml``): sealed in
    ``cf_staging`` whatever the party's category (#19 §3)."""
    from creditflow.core.pii import fields as pii_fields
    from creditflow.reporting import standardise as st

    cfg = st.source_config()["sources"].get(source_system) or {}
    spec = cfg.get(kind) or cfg.get("*") or {}
    codes = pii_fields.personal_codes(kind)
    if spec.get("identity"):
        return tuple(codes)
    out = []
    for code in codes:
        how = spec.get("fields", {}).get(code)
        if isinstance(how, str):
            out.append(how)
        elif isinstance(how, dict) and "from" in how:
            out.append(str(how["from"]))
    return tuple(out)


def seal_raw(source_system: str, kind: str, raw: dict[str, Any]) -> dict[str, Any]:
    """A raw source row with its personal values sealed (what ``cf_staging.raw_payload`` stores)."""
    from creditflow.core import pii

    return pii.seal_paths(raw, raw_personal_paths(source_system, kind))


def _json(value: Any) -> str:
    def default(v: Any) -> Any:
        if isinstance(v, (dt.date, dt.datetime)):
            return v.isoformat()
        if isinstance(v, Decimal):
            return str(v)
        return str(v)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=default)


def _local_naive(t: dt.datetime) -> dt.datetime:
    """Plain local wall-clock time (the case system stores naive local timestamps; also strips pendulum)."""
    return dt.datetime(t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond)


def _chunks(items: list[Any], n: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]
