"""层层审核 · 职责分离: who may decide at which review level (``data/rules/review_roles.yaml``).

Standard library and YAML only: the batch sign-off DAG reads the roster at parse time to name the
users its approval task is assigned to. :mod:`creditflow.reporting.review` enforces the roster (and the
rule that one person never decides two levels of the same record) for every decision.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

#: Environment variable naming a roster file that replaces the packaged one (production accounts).
ROSTER_ENV = "CREDITFLOW_REVIEW_ROLES"


class RosterError(ValueError):
    """The roster file is malformed or does not match the review levels of ``review_policy.yaml``."""


@dataclass(frozen=True)
class Level:
    level: int
    name_zh: str
    users: frozenset[str]
    roles: frozenset[str]  # lower case


@dataclass(frozen=True)
class Reviewer:
    """A person deciding: the auth manager's user id and the Airflow roles the login carries."""

    user_id: str
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Roster:
    levels: dict[int, Level]

    def may_decide(self, level: int, reviewer: Reviewer) -> bool:
        spec = self.levels.get(level)
        if spec is None or not reviewer.user_id.strip():
            return False
        if reviewer.user_id.strip() in spec.users:
            return True
        return any(role.lower() in spec.roles for role in reviewer.roles if role)

    def levels_of(self, reviewer: Reviewer) -> list[int]:
        """The levels ``reviewer`` may decide at (empty: a viewer)."""
        return [lv for lv in sorted(self.levels) if self.may_decide(lv, reviewer)]

    def name(self, level: int) -> str:
        spec = self.levels.get(level)
        return spec.name_zh if spec else f"第{level}级"

    def hitl_users(self, level: int) -> list[dict[str, str]]:
        """``assigned_users`` of the batch sign-off's approval task at ``level`` (id = name = user id)."""
        return [{"id": u, "name": u} for u in sorted(self.levels[level].users)]

    def describe(self, level: int) -> str:
        """Who decides at ``level``, for a page: "reviewer1、chief（角色 op）"."""
        spec = self.levels[level]
        parts = ["、".join(sorted(spec.users))] if spec.users else []
        if spec.roles:
            parts.append("角色 " + "、".join(sorted(spec.roles)))
        return "；".join(parts) or "（未配置）"


def _policy_levels() -> dict[int, str]:
    text = (resources.files("creditflow") / "data" / "rules" / "review_policy.yaml").read_text(encoding="utf-8")
    return {int(x["level"]): str(x["name_zh"]) for x in yaml.safe_load(text)["levels"]}


def parse_roster(data: dict[str, Any]) -> Roster:
    """A roster from the file's mapping; every level of ``review_policy.yaml`` must be configured."""
    names = _policy_levels()
    raw = data.get("levels") if isinstance(data, dict) else None
    if not isinstance(raw, dict):
        raise RosterError("review_roles: 'levels' must map each review level to its users and roles")
    levels: dict[int, Level] = {}
    for key, spec in raw.items():
        level = int(key)
        if level not in names:
            raise RosterError(f"review_roles: level {level} is not a level of review_policy.yaml")
        spec = spec or {}
        unknown = set(spec) - {"users", "roles"}
        if unknown:
            raise RosterError(f"review_roles: level {level}: unknown keys {sorted(unknown)}")
        users = frozenset(str(u).strip() for u in spec.get("users") or [] if str(u).strip())
        roles = frozenset(str(r).strip().lower() for r in spec.get("roles") or [] if str(r).strip())
        levels[level] = Level(level, names[level], users, roles)
    missing = sorted(set(names) - set(levels))
    if missing:
        raise RosterError(f"review_roles: no reviewers configured for level(s) {missing}")
    return Roster(levels)


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> Roster:
    return parse_roster(yaml.safe_load(Path(path).read_text(encoding="utf-8")))


def roster_path() -> Path:
    configured = os.environ.get(ROSTER_ENV, "").strip()
    if configured:
        return Path(configured)
    return Path(str(resources.files("creditflow") / "data" / "rules" / "review_roles.yaml"))


def load_roster() -> Roster:
    """The roster in force (re-read when the file changes: no restart needed after editing it)."""
    path = roster_path()
    return _load(str(path), path.stat().st_mtime)
