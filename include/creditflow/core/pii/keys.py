"""The keyring of :mod:`creditflow.core.pii`: SM4 keys by id, the active one, the blind-index key.

The deployment provides it as the Airflow connection ``creditflow_pii`` (any conn type, e.g. ``generic``)
whose extra is::

    {"active": "k2", "keys": {"k1": "<base64 16 bytes>", "k2": "<base64 16 bytes>"},
     "index_key": "<base64 32 bytes>"}

Airflow hands a connection to its processes as ``AIRFLOW_CONN_CREDITFLOW_PII`` (JSON or URI form; that is
what :func:`keyring` reads without Airflow) or through a secrets backend — the Airflow side then calls
:func:`use_keyring` with the connection's extra. Nothing here logs or prints a key.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CONN_ID = "creditflow_pii"
_ENV = "AIRFLOW_CONN_CREDITFLOW_PII"


class PiiKeyError(RuntimeError):
    """No usable keyring: the message says what is missing (never a key)."""


@dataclass(frozen=True)
class Keyring:
    keys: Mapping[str, bytes]  # key id → 16-byte SM4 key
    active: str
    index_key: bytes

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise PiiKeyError(f"个人信息加密密钥配置有误：当前密钥 {self.active!r} 不在密钥列表中")
        for kid, key in self.keys.items():
            if not kid or ":" in kid or len(key) != 16:
                raise PiiKeyError(f"个人信息加密密钥配置有误：密钥 {kid!r} 应为 16 字节（SM4）且编号不含冒号")
        if len(self.index_key) < 16:
            raise PiiKeyError("个人信息加密密钥配置有误：盲索引密钥（index_key）至少 16 字节")

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any]) -> Keyring:
        """From the connection's extra (the layout in the module docstring)."""
        try:
            keys = {str(k): _b64(v) for k, v in dict(extra["keys"]).items()}
            return cls(keys=keys, active=str(extra["active"]), index_key=_b64(extra["index_key"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise PiiKeyError(f"个人信息加密密钥（连接 {CONN_ID}）的 extra 不完整或格式有误："
                              f"{type(exc).__name__}") from None

    def to_extra(self) -> dict[str, Any]:
        return {"active": self.active, "keys": {k: base64.b64encode(v).decode() for k, v in self.keys.items()},
                "index_key": base64.b64encode(self.index_key).decode()}

    def with_new_key(self, kid: str | None = None) -> Keyring:
        """This keyring plus a fresh SM4 key, made active (the old keys still open old values)."""
        kid = kid or f"k{len(self.keys) + 1}"
        if kid in self.keys:
            raise PiiKeyError(f"密钥编号 {kid} 已存在")
        return Keyring({**self.keys, kid: secrets.token_bytes(16)}, kid, self.index_key)

    def __repr__(self) -> str:  # never a key in a log or a traceback
        return f"Keyring(active={self.active!r}, keys={sorted(self.keys)!r})"


def _b64(value: Any) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None


def generate_keyring(kid: str = "k1") -> Keyring:
    """A new keyring (one SM4 key, one index key): what a deployment's first set-up stores as its connection."""
    return Keyring({kid: secrets.token_bytes(16)}, kid, secrets.token_bytes(32))


def connection_json(ring: Keyring) -> str:
    """The ``AIRFLOW_CONN_CREDITFLOW_PII`` value (JSON form) of ``ring``."""
    return json.dumps({"conn_type": "generic", "extra": ring.to_extra()})


_lock = threading.Lock()
_override: Keyring | None = None
_cache: tuple[str, Keyring] | None = None


def use_keyring(ring: Keyring | Mapping[str, Any] | None) -> None:
    """Install the keyring a process uses (an Airflow secrets backend's connection, a test); ``None``: back to
    the environment."""
    global _override
    with _lock:
        _override = Keyring.from_extra(ring) if isinstance(ring, Mapping) else ring


def keyring(environ: Mapping[str, str] | None = None) -> Keyring:
    """The keyring in use: :func:`use_keyring`'s, else the connection in the environment (cached per value)."""
    global _cache
    if _override is not None and environ is None:
        return _override
    value = (os.environ if environ is None else environ).get(_ENV, "").strip()
    if not value:
        raise PiiKeyError(f"未配置个人信息加密密钥：请提供 Airflow 连接 {CONN_ID}（环境变量 {_ENV} 或密钥后端），"
                          "见 README“个人信息加密”")
    if _cache is not None and _cache[0] == value:
        return _cache[1]
    ring = Keyring.from_extra(_extra_of(value))
    if environ is None:
        _cache = (value, ring)
    return ring


def _extra_of(value: str) -> dict[str, Any]:
    """The extra of an Airflow connection given as JSON or URI (``generic://?__extra__=…`` or query keys)."""
    from creditflow.core import warehouse as wh

    try:
        fields = wh._parse_json_conn(value) if value.startswith("{") else wh._parse_uri_conn(value)
    except (ValueError, TypeError):
        raise PiiKeyError(f"{_ENV} 既不是 Airflow 连接 URI 也不是其 JSON 形式") from None
    return dict(fields["extra"])
