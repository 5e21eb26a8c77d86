"""Personal data at rest (#19 §3): SM4-GCM sealed values and a keyed SM3-HMAC blind index.

* :func:`seal` / :func:`unseal` — a value (resident ID number, other personal document number, a natural
  person's name) stored as ``sm4g:<key id>:<base64url(nonce | ciphertext | tag)>``: SM4 in GCM mode
  (authenticated; the key id is bound as associated data), a fresh 96-bit nonce per value. Any key of the
  keyring opens a value; new values are sealed under the active key (``creditflow keys rotate`` moves the
  old ones).
* :func:`blind` — what lookups, deduplication and the integrity check compare instead of the clear value:
  ``bi:`` + HMAC-SM3 under the index key, written in letters only (:func:`creditflow.common.opaque_token`, so
  that no index can ever look like an ID number). Deterministic; the index key is not rotated with the
  encryption keys (every stored key and natural key would change).
* :mod:`~creditflow.core.pii.keys` — the keyring the deployment provides: Airflow connection ``creditflow_pii``
  (``AIRFLOW_CONN_CREDITFLOW_PII``, or a secrets backend through :func:`use_keyring`); never in the repository
  or a log.
"""

from creditflow.core.pii.fields import (
    lookup_keys,
    masked,
    open_all,
    open_json,
    open_payload,
    party_key,
    personal_fields,
    seal_json,
    seal_paths,
    seal_payload,
)
from creditflow.core.pii.keys import (
    CONN_ID,
    Keyring,
    PiiKeyError,
    generate_keyring,
    keyring,
    use_keyring,
)
from creditflow.core.pii.sm4 import (
    BLIND_PREFIX,
    SEALED_PREFIX,
    PiiDecryptError,
    blind,
    is_blind,
    is_sealed,
    seal,
    unseal,
)

__all__ = [
    "BLIND_PREFIX",
    "CONN_ID",
    "SEALED_PREFIX",
    "Keyring",
    "PiiDecryptError",
    "PiiKeyError",
    "blind",
    "generate_keyring",
    "is_blind",
    "is_sealed",
    "keyring",
    "lookup_keys",
    "masked",
    "open_all",
    "open_json",
    "open_payload",
    "party_key",
    "personal_fields",
    "seal",
    "seal_json",
    "seal_paths",
    "seal_payload",
    "unseal",
    "use_keyring",
]
