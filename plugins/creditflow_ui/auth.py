"""Who is asking, and is the form theirs: Airflow login, roles, and CSRF for the plugin's pages.

* :func:`current_user` — the Airflow API server's own authentication: a ``Authorization: Bearer`` JWT,
  else the UI's session cookie (``_token``), validated by the auth manager exactly as ``/api/v2`` does
  (``airflow.api_fastapi.core_api.security``). No login → 401.
* :func:`reviewer_of` — the user as the review roster sees them: the auth manager's user id (the same
  id Airflow's human-in-the-loop tasks compare ``assigned_users`` with) and the Airflow role(s).
* CSRF — every form carries ``csrf_token`` = HMAC-SHA256 over the login session's token with a server
  secret, in letters only (:func:`creditflow.common.opaque_token`: the pages' ID masking never alters it);
  a post without it, with a wrong one, or with a foreign ``Origin``/``Referer`` (or a browser's
  ``Sec-Fetch-Site: cross-site``) is refused with 403. The session cookie is also ``SameSite=Lax``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from creditflow.common import opaque_token
from creditflow.reporting.reviewers import Reviewer
from fastapi import HTTPException, Request

log = logging.getLogger(__name__)
COOKIE = "_token"  # airflow.api_fastapi.auth.managers.base_auth_manager.COOKIE_NAME_JWT_TOKEN


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def session_token(request: Request) -> str | None:
    """The credential this request authenticates with (bearer first, as Airflow's ``get_user``)."""
    return _bearer(request) or request.cookies.get(COOKIE)


async def current_user(request: Request) -> Any:
    """FastAPI dependency: the logged-in Airflow user, or HTTP 401 (no login) / 403 (invalid token)."""
    from airflow.api_fastapi.core_api import security

    bearer = _bearer(request)
    if bearer and bearer.startswith("cfk_"):  # a machine client's credential (creditflow.credit.clients): no user
        raise HTTPException(403, "机器客户端凭据只能用于诚信审核接口，不能代表用户登录")
    if bearer:
        return _with_a_role(await security.resolve_user_from_token(bearer))
    # The API server's JWTRefreshMiddleware may already have resolved the cookie (and marks it so).
    user = getattr(request.state, "user", None)
    if user is not None and getattr(request.state, "user_authenticated_via", None) \
            is security.USER_INJECTED_BY_TRUSTED_MIDDLEWARE:
        return _with_a_role(user)
    return _with_a_role(await security.resolve_user_from_token(request.cookies.get(COOKIE)))


#: FAB's registration role: every directory account has it, and it grants nothing.
NO_ROLE = frozenset({"public"})


def _with_a_role(user: Any) -> Any:
    """Refuse (403) a login that carries none of the deployment's roles: under the FAB auth manager anyone in the
    directory can sign in and gets only ``Public`` — someone in none of the creditflow groups sees nothing here.
    (The Simple auth manager's users always have a role, or all are admins.)"""
    listed = getattr(user, "roles", None)
    if listed is not None and getattr(user, "role", None) is None:
        names = {str(getattr(r, "name", r)).lower() for r in listed or []}
        if not names - NO_ROLE:
            raise HTTPException(403, "您的账号未加入 creditflow 的任何角色（目录组），请联系管理员")
    return user


def user_roles(user: Any) -> tuple[str, ...]:
    """Airflow role(s) of a user: SimpleAuthManager has one ``role``; FAB-style users a ``roles`` list."""
    found: list[str] = []
    role = getattr(user, "role", None)
    if isinstance(role, str) and role:
        found.append(role)
    for item in getattr(user, "roles", None) or []:
        name = getattr(item, "name", item)
        if isinstance(name, str) and name:
            found.append(name)
    return tuple(found)


def user_name(user: Any) -> str:
    """Who the audit names: the login name (FAB's ``get_id()`` is a number; the Simple auth manager's is the name)."""
    name = getattr(user, "username", None)
    return str(name) if isinstance(name, str) and name.strip() else str(user.get_id())


def reviewer_of(user: Any) -> Reviewer:
    return Reviewer(user_name(user), user_roles(user))


@cache
def _secret() -> bytes:
    from airflow.configuration import conf

    for section, key in (("api_auth", "jwt_secret"), ("api", "secret_key")):
        value = conf.get(section, key, fallback="") or ""
        if value:
            return hashlib.sha256(b"creditflow-csrf|" + value.encode()).digest()
    log.warning("no [api_auth] jwt_secret or [api] secret_key: CSRF tokens are valid for this process only")
    return secrets.token_bytes(32)


def csrf_token(request: Request) -> str:
    """The form token of this login session (empty without a session: nothing to protect)."""
    token = session_token(request)
    if not token:
        return ""
    return opaque_token(hmac.new(_secret(), token.encode(), hashlib.sha256).digest())


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def _own_origins(request: Request) -> set[str]:
    from airflow.configuration import conf

    own = {_origin_of(str(request.url))}
    base = conf.get("api", "base_url", fallback="") or ""
    if base:
        own.add(_origin_of(base))
    return {o for o in own if o}


def check_form(request: Request, token: str | None) -> None:
    """Refuse (403) a state-changing post that another site could have made."""
    if request.headers.get("sec-fetch-site", "").lower() in ("cross-site", "same-site"):
        raise HTTPException(403, "拒绝跨站提交的表单（Sec-Fetch-Site）")
    claimed = request.headers.get("origin")
    if claimed is None and request.headers.get("referer"):
        claimed = _origin_of(request.headers["referer"])
    if claimed is not None and claimed.lower() not in _own_origins(request):
        raise HTTPException(403, "拒绝来自其他网站的表单提交（Origin 不符）")
    expected = csrf_token(request)
    if not token or not expected or not hmac.compare_digest(token, expected):
        raise HTTPException(403, "表单已失效或来源不明（CSRF 校验失败），请刷新审核页面后重试")
