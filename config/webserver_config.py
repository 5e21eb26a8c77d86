"""Production sign-in: Airflow's FAB auth manager, people authenticated by the bureau's directory (LDAP).

Airflow reads this file as ``[fab] config_file`` (scripts/airflow_env.py ``fab_ldap_env``, docker-compose.yaml)
when ``[core] auth_manager`` is the FAB auth manager. Everything site-specific comes from the environment,
so the same file serves ``make cluster`` (the sandbox directory, creditflow_sandbox.directory), the tests
and the bureau's OpenLDAP or Active Directory (README "Production: sign-in"):

=================================  ==========================================================================
CREDITFLOW_LDAP_URL                ``ldap://host:389`` or ``ldaps://host:636``
CREDITFLOW_LDAP_STARTTLS           ``1``: StartTLS on an ``ldap://`` URL
CREDITFLOW_LDAP_CA_FILE            CA certificate (PEM) of the directory's TLS certificate
CREDITFLOW_LDAP_BIND_USER          DN of the read-only service account the searches bind as
CREDITFLOW_LDAP_BIND_PASSWORD      its password (from a secret, never committed)
CREDITFLOW_LDAP_SEARCH             where people are: ``ou=people,dc=…`` (AD: ``OU=…,DC=…``)
CREDITFLOW_LDAP_SEARCH_FILTER      extra filter (optional), e.g. ``(objectClass=inetOrgPerson)``
CREDITFLOW_LDAP_UID_FIELD          the login name attribute: ``uid`` (OpenLDAP), ``sAMAccountName`` (AD)
CREDITFLOW_LDAP_GROUPS             JSON: ``{"<group DN as memberOf lists it>": "<creditflow role>", …}``
CREDITFLOW_RATELIMIT_STORAGE       where login attempts are counted: ``redis://…/5`` with several API servers
CREDITFLOW_LOGIN_RATE_LIMIT        default ``5 per 40 second`` (per client address, failed or not)
=================================  ==========================================================================

Roles are synchronised at every login (``AUTH_ROLES_SYNC_AT_LOGIN``): a person taken out of a group loses the
role at their next login. The five roles are created by ``python -m creditflow_airflow.fab_roles``.
"""

from __future__ import annotations

import json
import os

from flask_appbuilder.const import AUTH_LDAP


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


AUTH_TYPE = AUTH_LDAP
AUTH_LDAP_SERVER = _env("CREDITFLOW_LDAP_URL", "ldap://127.0.0.1:389")
AUTH_LDAP_USE_TLS = _env("CREDITFLOW_LDAP_STARTTLS") == "1"
if _env("CREDITFLOW_LDAP_CA_FILE"):
    AUTH_LDAP_TLS_CACERTFILE = _env("CREDITFLOW_LDAP_CA_FILE")
    AUTH_LDAP_TLS_DEMAND = True
AUTH_LDAP_BIND_USER = _env("CREDITFLOW_LDAP_BIND_USER")
AUTH_LDAP_BIND_PASSWORD = _env("CREDITFLOW_LDAP_BIND_PASSWORD")
AUTH_LDAP_SEARCH = _env("CREDITFLOW_LDAP_SEARCH")
AUTH_LDAP_SEARCH_FILTER = _env("CREDITFLOW_LDAP_SEARCH_FILTER")
AUTH_LDAP_UID_FIELD = _env("CREDITFLOW_LDAP_UID_FIELD", "uid")
AUTH_LDAP_FIRSTNAME_FIELD = "givenName"
AUTH_LDAP_LASTNAME_FIELD = "sn"
AUTH_LDAP_EMAIL_FIELD = "mail"
AUTH_LDAP_GROUP_FIELD = "memberOf"

# A person of the directory gets an Airflow account at first login; their roles come from their groups
# and are re-read at every login. FAB also gives every account this registration role: Public, which has no
# Airflow permission (someone in none of the groups has nothing else).
AUTH_USER_REGISTRATION = True
AUTH_USER_REGISTRATION_ROLE = "Public"
AUTH_ROLES_SYNC_AT_LOGIN = True
AUTH_ROLES_MAPPING: dict[str, list[str]] = {
    dn: [role] for dn, role in json.loads(_env("CREDITFLOW_LDAP_GROUPS") or "{}").items()
}

# Login attempts are rate-limited per client address (Flask-Limiter on the login form).
AUTH_RATE_LIMITED = True
AUTH_RATE_LIMIT = _env("CREDITFLOW_LOGIN_RATE_LIMIT", "5 per 40 second")
RATELIMIT_STORAGE_URI = _env("CREDITFLOW_RATELIMIT_STORAGE", "memory://")

# The session cookie: HttpOnly and SameSite=Lax; its lifetime is [fab] session_lifetime_minutes (idle) and
# session_max_lifetime_minutes (absolute), the API token's [api_auth] jwt_expiration_time (airflow_env.py).
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
WTF_CSRF_ENABLED = True
