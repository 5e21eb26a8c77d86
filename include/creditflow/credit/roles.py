"""职责分离 on the 信用管理 page: who may record, propose and approve (``data/credit/roles.yaml``).

The same shape of rule as the 双公示 review roster (:mod:`creditflow.reporting.reviewers`): users by
Airflow user id or Airflow role; one person never approves their own proposal.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from creditflow.reporting.reviewers import Reviewer

ROLES_ENV = "CREDITFLOW_CREDIT_ROLES"
ACTIONS = ("record", "propose", "approve")
ACTION_ZH = {"record": "登记", "propose": "经办（提出）", "approve": "负责人（批准）"}

__all__ = ["ACTIONS", "NotPermitted", "Reviewer", "Roles", "load_roles", "parse_roles"]


class NotPermitted(PermissionError):
    """The user may not do this (role missing, or approving their own proposal)."""


class RolesError(ValueError):
    pass


@dataclass(frozen=True)
class Roles:
    users: dict[str, frozenset[str]]
    roles: dict[str, frozenset[str]]

    def may(self, action: str, who: Reviewer) -> bool:
        if not who.user_id.strip():
            return False
        if who.user_id.strip() in self.users.get(action, frozenset()):
            return True
        return any(r.lower() in self.roles.get(action, frozenset()) for r in who.roles if r)

    def require(self, action: str, who: Reviewer) -> None:
        if not self.may(action, who):
            raise NotPermitted(f"用户 {who.user_id} 无权{ACTION_ZH.get(action, action)}（见 data/credit/roles.yaml）")

    def require_approver(self, who: Reviewer, proposed_by: str | None) -> None:
        self.require("approve", who)
        if proposed_by and proposed_by == who.user_id:
            raise NotPermitted("同一人不得既提出又批准同一事项（职责分离）")

    def actions_of(self, who: Reviewer) -> list[str]:
        return [a for a in ACTIONS if self.may(a, who)]


def parse_roles(data: dict[str, Any]) -> Roles:
    raw = data.get("actions") if isinstance(data, dict) else None
    if not isinstance(raw, dict):
        raise RolesError("credit roles: 'actions' must map record/propose/approve to users and roles")
    missing = [a for a in ACTIONS if a not in raw]
    if missing:
        raise RolesError(f"credit roles: no one configured for {missing}")
    users, roles = {}, {}
    for action, spec in raw.items():
        if action not in ACTIONS:
            raise RolesError(f"credit roles: unknown action {action!r}")
        spec = spec or {}
        users[action] = frozenset(str(u).strip() for u in spec.get("users") or [] if str(u).strip())
        roles[action] = frozenset(str(r).strip().lower() for r in spec.get("roles") or [] if str(r).strip())
    return Roles(users, roles)


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> Roles:
    return parse_roles(yaml.safe_load(Path(path).read_text(encoding="utf-8")))


def load_roles() -> Roles:
    configured = os.environ.get(ROLES_ENV, "").strip()
    path = Path(configured) if configured else Path(str(resources.files("creditflow") / "data" / "credit"
                                                        / "roles.yaml"))
    return _load(str(path), path.stat().st_mtime)
