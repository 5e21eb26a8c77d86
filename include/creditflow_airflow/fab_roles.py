"""The five roles of the production sign-in (FAB auth manager), created by the deployment's init step.

``python -m creditflow_airflow.fab_roles`` (``make cluster``, docker-compose's ``airflow-init``) runs after
``airflow db migrate`` with the production environment: it creates Airflow's own roles (Admin, Op, User,
Viewer, Public) and these five, and sets each of the five to exactly the permissions below (a permission
added by hand through the UI is taken away again at the next init: this file is the definition).

Who decides what is not an Airflow permission: the review roster (``data/rules/review_roles.yaml``) and
the credit roles (``data/credit/roles.yaml``) name these roles, and ``creditflow.reporting.review`` /
``creditflow.credit.roles`` enforce them on every decision. The Airflow permissions only decide what the
Airflow UI shows and lets one do:

* 查看 — Airflow's Viewer: reads DAGs, runs, logs; changes nothing.
* 经办科室审核 / 法规科审核 / 信用管理 — Viewer, plus the creditflow pages in the menu (plugins) and answering
  the batch sign-off's approval task (human-in-the-loop). They do not trigger, clear or delete runs.
* 运维 — Airflow's Op: runs, clears and backfills DAGs, edits connections, variables and pools; it is no
  reviewer (a person who also reviews is put in both groups by the directory's administrator).

信用管理 is one role for 经办 (propose) and 负责人 (approve): the separation that matters is per decision — no one
approves their own proposal — and :meth:`creditflow.credit.roles.Roles.require_approver` refuses that
whatever the roles; two roles would not prevent it either (one person may be in both groups), and the
科 rotates who proposes and who approves from case to case.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

#: role → directory group cn in the sandbox directory (creditflow_sandbox.directory.GROUPS mirrors it).
REVIEW_1, REVIEW_2, CREDIT, VIEWER, OPS = "经办科室审核", "法规科审核", "信用管理", "查看", "运维"
ROLES = (REVIEW_1, REVIEW_2, CREDIT, VIEWER, OPS)


def role_permissions() -> dict[str, list[tuple[str, str]]]:
    """(action, resource) pairs of each creditflow role, built from Airflow's own role definitions."""
    from airflow.providers.fab.auth_manager.security_manager.override import (
        FabAirflowSecurityManagerOverride as Sm,
    )
    from airflow.providers.fab.www.security import permissions as p

    viewer = list(Sm.VIEWER_PERMISSIONS)
    reviewer = [*viewer, (p.ACTION_CAN_READ, p.RESOURCE_PLUGIN), (p.ACTION_CAN_ACCESS_MENU, p.RESOURCE_PLUGIN),
                (p.ACTION_CAN_EDIT, p.RESOURCE_HITL_DETAIL), (p.ACTION_CAN_ACCESS_MENU, p.RESOURCE_HITL_DETAIL)]
    ops = [*viewer, *Sm.USER_PERMISSIONS, *Sm.OP_PERMISSIONS]
    return {VIEWER: viewer, REVIEW_1: reviewer, REVIEW_2: reviewer, CREDIT: reviewer, OPS: ops}


def sync(appbuilder: Any | None = None) -> dict[str, int]:
    """Create Airflow's roles and the five, and set the five's permissions exactly; {role: permissions}."""
    if appbuilder is None:
        from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

        with get_application_builder() as builder:
            return sync(builder)
    sm = appbuilder.sm
    # What `airflow sync-perm` does (the API servers run with [fab] update_fab_perms off: this step does it once):
    appbuilder.add_permissions(update_perms=True)  # the views' permissions
    sm.sync_roles()  # Airflow's own roles (Admin, Op, User, Viewer, Public) and their permissions
    wanted = role_permissions()
    sm.bulk_sync_roles([{"role": name, "perms": perms} for name, perms in wanted.items()])
    counts = {}
    for name, perms in wanted.items():
        role = sm.find_role(name)
        keep = set(perms)
        for perm in list(role.permissions):
            if (perm.action.name, perm.resource.name) not in keep:
                sm.remove_permission_from_role(role, perm)
        counts[name] = len(sm.find_role(name).permissions)
    return counts


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    for name, count in sync().items():
        print(f"角色 {name}: {count} 项权限")


if __name__ == "__main__":
    main()
