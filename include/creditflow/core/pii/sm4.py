"""Sealing (SM4-GCM) and blind indexing (HMAC-SM3) of one value; see :mod:`creditflow.core.pii`."""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from creditflow.common import opaque_token
from creditflow.core.pii.keys import Keyring, keyring

SEALED_PREFIX = "sm4g:"
BLIND_PREFIX = "bi:"
_NONCE, _TAG = 12, 16
_AAD = b"creditflow-pii|"


#: Test-only: seal and blind return values as they are (a warehouse as the releases before #19 §3 wrote it,
#: to test the migration on what the real pipeline stored). Never set outside a test.
_PASSTHROUGH_FOR_TESTS = False


class PiiDecryptError(ValueError):
    """A sealed value that no key of the keyring opens (wrong key, or altered): never a clear value in it."""


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def is_blind(value: object) -> bool:
    return isinstance(value, str) and value.startswith(BLIND_PREFIX)


def seal(value: str | None, ring: Keyring | None = None) -> str | None:
    """``value`` sealed under the active key; ``None``/empty and already-sealed values are returned as they are."""
    if value is None or value == "" or is_sealed(value) or _PASSTHROUGH_FOR_TESTS:
        return value
    ring = ring or keyring()
    kid = ring.active
    nonce = os.urandom(_NONCE)
    enc = Cipher(algorithms.SM4(ring.keys[kid]), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(_AAD + kid.encode())
    body = enc.update(str(value).encode("utf-8")) + enc.finalize()
    token = base64.urlsafe_b64encode(nonce + body + enc.tag).decode().rstrip("=")
    return f"{SEALED_PREFIX}{kid}:{token}"


def key_id(value: str) -> str | None:
    """The id of the key that sealed ``value`` (``None`` if it is not sealed)."""
    if not is_sealed(value):
        return None
    return value[len(SEALED_PREFIX):].split(":", 1)[0]


def unseal(value: str | None, ring: Keyring | None = None) -> str | None:
    """The clear value of a sealed one; a value that is not sealed is returned as it is."""
    if not is_sealed(value):
        return value
    assert value is not None
    ring = ring or keyring()
    kid, _, token = value[len(SEALED_PREFIX):].partition(":")
    key = ring.keys.get(kid)
    if key is None:
        raise PiiDecryptError(f"密钥 {kid} 不在当前密钥列表中，无法解密（密钥轮换未完成前不可移除旧密钥）")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise PiiDecryptError("加密值格式有误") from None
    if len(raw) < _NONCE + _TAG:
        raise PiiDecryptError("加密值格式有误")
    nonce, body, tag = raw[:_NONCE], raw[_NONCE:-_TAG], raw[-_TAG:]
    dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    dec.authenticate_additional_data(_AAD + kid.encode())
    try:
        return (dec.update(body) + dec.finalize()).decode("utf-8")
    except InvalidTag:
        raise PiiDecryptError(f"加密值校验失败（密钥 {kid}）：数据被改动或密钥不符") from None


def reseal(value: str | None, ring: Keyring | None = None) -> str | None:
    """``value`` sealed under the active key (unchanged if it already is): one step of key rotation."""
    ring = ring or keyring()
    if not is_sealed(value) or key_id(value or "") == ring.active:
        return value if is_sealed(value) else seal(value, ring)
    return seal(unseal(value, ring), ring)


def blind(value: str | None, purpose: str = "id", ring: Keyring | None = None) -> str | None:
    """The blind index of ``value`` (compared instead of the clear value); ``purpose`` separates index spaces
    (``id`` for document numbers, ``name`` for names). ``None``/empty stay as they are."""
    if value is None or value == "" or is_blind(value) or _PASSTHROUGH_FOR_TESTS:
        return value
    ring = ring or keyring()
    mac = hmac.HMAC(ring.index_key, hashes.SM3())
    mac.update(purpose.encode() + b"\x1f" + str(value).encode("utf-8"))
    return BLIND_PREFIX + opaque_token(mac.finalize()[:16])
