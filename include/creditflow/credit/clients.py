"""Machine clients of 诚信审核: the licensing and procurement systems that call the integrity endpoint as systems,
not as people (issue #19 §2).

* **Credential** — ``cfk_<client id>.<secret>``, sent as ``Authorization: Bearer cfk_…``. The ``cfk_`` prefix
  tells it apart from an Airflow JWT (``eyJ…``, three dot-separated parts) before anything is decoded. The
  secret is 32 random bytes (``secrets.token_urlsafe``), shown once by ``creditflow clients add|rotate``; the
  registry keeps only SHA-256(client id, secret) — a high-entropy secret needs no slow password hash — and a
  presented secret is compared in constant time (``hmac.compare_digest``).
* **Scope** — ``integrity`` only: the credential is accepted by ``/creditflow/api/integrity`` and refused (403)
  everywhere else (the plugin's pages; Airflow itself does not know the format and refuses it as an invalid token).
* **Checked on every request** against ``cf_api_client`` (one primary-key read, no cache): a revocation or
  rotation is in force from the next request on, in every API-server worker.
* **Rotation** — a new secret; the previous one stays valid for a grace period (default 24 h, ``--grace-hours``;
  0 ends it at once) so the calling system can switch without a failed check. One previous secret at most: a
  second rotation within the grace period ends the first secret.
* **Revocation** — at once: both secrets refused on the next request. The row stays (the audit log's
  ``client:<id>`` keeps naming a known system); a revoked client cannot be rotated back to life.
* **Rate limit** per client (``limits`` notation, e.g. ``600/minute``), enforced by the endpoint.

No Airflow imports: the CLI (``creditflow clients …``) and the plugin both use these functions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from creditflow.core import warehouse as wh

PREFIX = "cfk_"
SCOPE = "integrity"
DEFAULT_RATE_LIMIT = "600/minute"
DEFAULT_GRACE = dt.timedelta(hours=24)
ID_PATTERN = re.compile(r"[a-z][a-z0-9-]{2,31}")
T = wh.api_client


@dataclass(frozen=True)
class Client:
    """A client the registry accepted for this request."""

    client_id: str
    name_zh: str
    scope: str
    rate_limit: str

    @property
    def asked_by(self) -> str:
        """The name every answer to this client is audited under (``cf_credit_check_log.asked_by``)."""
        return f"client:{self.client_id}"


def is_credential(token: str | None) -> bool:
    """Whether a bearer token is a client credential (never an Airflow JWT)."""
    return bool(token) and str(token).startswith(PREFIX)


def parse(token: str) -> tuple[str, str] | None:
    """(client id, secret) of a well-formed credential, else None."""
    if not is_credential(token):
        return None
    client_id, dot, secret = token[len(PREFIX):].partition(".")
    if not dot or not secret or not ID_PATTERN.fullmatch(client_id) or len(secret) > 200:
        return None
    return client_id, secret


def secret_hash(client_id: str, secret: str) -> str:
    """What the registry keeps of a secret: SHA-256 over the client id and the secret (hex)."""
    return hashlib.sha256(f"creditflow-api-client|{client_id}|{secret}".encode()).hexdigest()


def _new_secret(client_id: str) -> tuple[str, str]:
    secret = secrets.token_urlsafe(32)
    return f"{PREFIX}{client_id}.{secret}", secret_hash(client_id, secret)


def check_rate_limit(text: str) -> str:
    """The limit as stored, or ValueError (in Chinese) when ``limits`` cannot read it."""
    from limits import parse as parse_limit

    try:
        parse_limit(text)
    except ValueError:
        raise ValueError(f"无法识别的限流设置“{text}”，应如 600/minute、20/second") from None
    return text.strip()


_LOOKUP = sa.select(T.c.name_zh, T.c.scope, T.c.rate_limit, T.c.secret_hash, T.c.previous_hash,
                    T.c.previous_valid_until, T.c.revoked_at).where(T.c.client_id == sa.bindparam("id"))


def verify(conn: sa.Connection, token: str, now: dt.datetime | None = None) -> Client | None:
    """The client this credential belongs to, or None: unknown, malformed, wrong secret, revoked, or the previous
    secret after its grace period. One primary-key read; both hashes compared in constant time."""
    parsed = parse(token)
    if parsed is None:
        return None
    client_id, secret = parsed
    row = conn.execute(_LOOKUP, {"id": client_id}).first()
    if row is None or row.revoked_at is not None or row.scope != SCOPE:
        return None
    given = secret_hash(client_id, secret)
    if hmac.compare_digest(given, row.secret_hash):
        return Client(client_id, row.name_zh, row.scope, row.rate_limit)
    if (row.previous_hash and row.previous_valid_until and hmac.compare_digest(given, row.previous_hash)
            and (now or dt.datetime.now(dt.UTC)) < dt.datetime.fromisoformat(row.previous_valid_until)):
        return Client(client_id, row.name_zh, row.scope, row.rate_limit)
    return None


# --- the registry (the CLI's commands) -----------------------------------------------------------------------


def add(engine: sa.Engine, client_id: str, name_zh: str, *, by: str, rate_limit: str = DEFAULT_RATE_LIMIT) -> str:
    """Register a client; returns its credential (shown once, never stored). ValueError (Chinese) for a bad id,
    an empty name, an unreadable limit, or an id already taken (revoked ones included: ids are never reused)."""
    if not ID_PATTERN.fullmatch(client_id):
        raise ValueError(f"客户端标识“{client_id}”不合规：须为3至32位小写字母、数字或连字符，以字母开头")
    if not name_zh.strip():
        raise ValueError("须填写调用系统的中文名称")
    limit = check_rate_limit(rate_limit)
    credential, hashed = _new_secret(client_id)
    with engine.begin() as conn:
        if conn.execute(sa.select(T.c.client_id).where(T.c.client_id == client_id)).first():
            raise ValueError(f"客户端标识“{client_id}”已存在（已吊销的标识也不再使用）")
        conn.execute(T.insert().values(client_id=client_id, name_zh=name_zh.strip()[:100], scope=SCOPE,
                                       rate_limit=limit, secret_hash=hashed, created_at=wh.now_iso(),
                                       created_by=by[:80]))
    return credential


def _live(conn: sa.Connection, client_id: str) -> Any:
    row = conn.execute(sa.select(T).where(T.c.client_id == client_id).with_for_update()).first()
    if row is None:
        raise ValueError(f"没有客户端“{client_id}”")
    if row.revoked_at is not None:
        raise ValueError(f"客户端“{client_id}”已于 {row.revoked_at} 吊销，不能再更改；如需恢复请新建客户端")
    return row


def rotate(engine: sa.Engine, client_id: str, *, by: str,
           grace: dt.timedelta = DEFAULT_GRACE) -> tuple[str, str | None]:
    """A new secret for a client; the current one stays valid for ``grace`` (0: ends now). Returns the new
    credential (shown once) and until when the old one is valid (None: not at all)."""
    if grace < dt.timedelta(0):
        raise ValueError("宽限期不能为负数")
    credential, hashed = _new_secret(client_id)
    now = dt.datetime.now(dt.UTC)
    until = (now + grace).isoformat(timespec="seconds") if grace > dt.timedelta(0) else None
    with engine.begin() as conn:
        row = _live(conn, client_id)
        conn.execute(T.update().where(T.c.client_id == client_id).values(
            secret_hash=hashed, previous_hash=row.secret_hash if until else None, previous_valid_until=until,
            rotated_at=now.isoformat(timespec="seconds"), rotated_by=by[:80]))
    return credential, until


def revoke(engine: sa.Engine, client_id: str, *, by: str) -> None:
    """Refuse the client's credential (current and previous secret) from the next request on."""
    with engine.begin() as conn:
        _live(conn, client_id)
        conn.execute(T.update().where(T.c.client_id == client_id).values(
            revoked_at=wh.now_iso(), revoked_by=by[:80], previous_hash=None, previous_valid_until=None))


def set_rate_limit(engine: sa.Engine, client_id: str, rate_limit: str) -> None:
    """Change a client's rate limit (in force from its next request)."""
    limit = check_rate_limit(rate_limit)
    with engine.begin() as conn:
        _live(conn, client_id)
        conn.execute(T.update().where(T.c.client_id == client_id).values(rate_limit=limit))


def listing(engine: sa.Engine) -> list[dict[str, Any]]:
    """Every client, revoked ones included, without any hash."""
    cols = [c for c in T.c if not c.name.endswith("_hash")]
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(*cols).order_by(T.c.client_id)).mappings()]
