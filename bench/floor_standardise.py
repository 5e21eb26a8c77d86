"""The floor of standardisation: field mapping, normalisation, natural key and SHA-256 content hash,
written again as minimal pyarrow/Python code, independent of the project's modules (issue #20 target 1).

Only the project's *data* is read (the same files the project reads: data/mapping/sources.yaml,
data/standard/fields-<kind>.csv and enum_aliases.csv); every step is written here again. Input: the
district-file rows the pipeline benchmark feeds the project (text cells, field codes as headers,
``_source_key``). Output: a frame with the normalised field columns (Arrow-backed), ``record_id``,
``doc_key``, ``party_key``, ``natural_key``, ``content_hash`` and ``_row`` — compared per record with
what ``creditflow.reporting.standardise.standardise`` returns (``bench/run.py pipeline``).

How: whitespace folding, brackets, 号, hyphens, upper case run over the whole column in RE2
(pyarrow.compute); Python only where RE2 cannot say it (full-width → half-width translation, dates and
amounts not already in canonical form, enumerations), once per distinct value.

    from floor_standardise import floor_standardise      # bench/ on sys.path
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
from decimal import Decimal, InvalidOperation
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import yaml

DATA = Path(__file__).resolve().parents[1] / "include" / "creditflow" / "data"
PREFIX = {"penalty": "CF", "license": "XK", "coercion": "QZ"}
PLACEHOLDER = "00000000000000000X"
# What Python's str.isspace admits, plus zero-width space and BOM: the characters a cell's text folds.
WS = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
      "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\u200b\ufeff")
WS_RE2 = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in WS) + "]+"
ONE_WS_RE2 = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in WS if c != " ") + "]"  # all but the plain space
FULLWIDTH_RE2 = r"[\x{ff01}-\x{ff5e}]"
HALF = str.maketrans({i: i - 0xFEE0 for i in range(0xFF01, 0xFF5F)})
# Which enumeration an enum field follows, by code suffix (the standard's field dictionary names the type
# ``enum``; the enumeration is the one of its suffix).
ENUM_SUFFIX = {"_XDR_LB": "party_category", "_XDR_ZJLX": "id_type", "_FR_ZJLX": "id_type",
               "CF_CFLB": "penalty_category", "XK_XKLB": "license_category", "XK_ZT": "license_status",
               "QZ_QZLB": "coercion_kind", "QZ_CSLX": "coercion_measure+coercion_enforcement",
               "QZ_ZT": "coercion_status"}
NAMES = ("_MC", "_CFJG", "_XKJG", "_SSJG", "_SJLY", "_LYDW", "_FRDB")
CODES = ("_SHXYM", "_GSZC", "_ZZJG", "_SWDJ", "_SYDW", "_SHZZ", "_ZJHM", "DM")


@cache
def fields(kind: str) -> tuple[tuple[str, str], ...]:
    with (DATA / "standard" / f"fields-{kind}.csv").open(encoding="utf-8") as fh:
        return tuple((r["code"], r["type"]) for r in csv.DictReader(fh))


@cache
def aliases(code: str) -> dict[str, str]:
    enums = next((e.split("+") for s, e in ENUM_SUFFIX.items() if code.endswith(s)), [])
    with (DATA / "standard" / "enum_aliases.csv").open(encoding="utf-8") as fh:
        return {r["alias"]: r["value"] for r in csv.DictReader(fh) if r["enum"] in enums}


@cache
def amount_unit(source_system: str, kind: str) -> str:
    spec = yaml.safe_load((DATA / "mapping" / "sources.yaml").read_text(encoding="utf-8"))["sources"][source_system]
    spec = spec.get(kind) or spec["*"]
    if not spec.get("identity"):
        raise NotImplementedError("the floor maps identity sources (district files) only")
    return str(spec.get("amount_unit", "万元"))


def field_class(code: str, ftype: str) -> str:
    if ftype in ("date", "decimal", "enum-multi", "enum"):
        return ftype
    if code.endswith("_WSH"):
        return "doc_no"
    if ftype == "uscc" or code.endswith(CODES):
        return "code"
    return "name" if code.endswith(NAMES) else "text"


# --- per distinct value (what RE2 cannot do) ------------------------------------------------------------

_DATES = (re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T].*)?$"),
          re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?(?:\s.*)?$"),
          re.compile(r"^(\d{4})(\d{2})(\d{2})$"))
_AMOUNT = re.compile(r"^[¥￥]?\s*([+-]?\d+(?:\.\d+)?)\s*(万元|万|元)?$")


def _date(text: str) -> str:
    """An ISO date when the (cleaned) text reads as one — Excel serial days 20000..80000 included — else
    the text itself."""
    half = text.translate(HALF)
    if re.fullmatch(r"\d{5}(\.0+)?", half) and 20000 <= float(half) <= 80000:
        return (dt.date(1899, 12, 30) + dt.timedelta(days=int(float(half)))).isoformat()
    for pattern in _DATES:
        m = pattern.match(half)
        if m:
            try:
                return dt.date(int(m[1]), int(m[2]), int(m[3])).isoformat()
            except ValueError:
                return text
    return text


def _amount(text: str, unit: str) -> str:
    """Amount in 万元 as plain decimal text (no exponent, no trailing zeros); unreadable → the text."""
    m = _AMOUNT.match(text.translate(HALF).replace(",", "").replace("，", ""))
    if not m:
        return text
    try:
        number = Decimal(m[1])
        if (m[2] or unit) == "元":
            number = number / 10000
    except (InvalidOperation, ArithmeticError):
        return text
    return "0" if number == 0 else format(number.normalize(), "f")


def _enum(text: str, table: dict[str, str]) -> str | None:
    value = text.translate(HALF).replace(" ", "")
    return table.get(value, value) or None


def _multi(text: str, table: dict[str, str]) -> str | None:
    parts = [_enum(p.strip(), table) for p in re.split(r"[;,|]", text.translate(HALF)) if p.strip()]
    return ";".join(p for p in parts if p) or None


def _distinct(arr: pa.Array, fn: Any) -> pa.Array:
    enc = pc.dictionary_encode(arr)
    mapped = pa.array([fn(v) for v in enc.dictionary.to_pylist()], pa.string())
    return pc.take(mapped, enc.indices)


def _apply(arr: pa.Array, mask: Any, fn: Any) -> pa.Array:
    """``fn`` per distinct value on the masked values; the others unchanged."""
    if not pc.any(mask).as_py():
        return arr
    idx = pc.indices_nonzero(mask)
    out = arr.to_numpy(zero_copy_only=False).astype(object)
    out[idx.to_numpy()] = _distinct(pc.take(arr, idx), fn).to_numpy(zero_copy_only=False)
    return pa.array(out, pa.string(), from_pandas=True)


def _where(arr: pa.Array, pattern: str, fn: Any) -> pa.Array:
    return _apply(arr, pc.fill_null(pc.match_substring_regex(arr, pattern), False), fn)


def _unless(arr: pa.Array, pattern: str, fn: Any) -> pa.Array:
    return _apply(arr, pc.invert(pc.fill_null(pc.match_substring_regex(arr, pattern), True)), fn)


# --- per column -----------------------------------------------------------------------------------------


def _null_if_empty(arr: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(pc.utf8_length(arr), 0), pa.nulls(len(arr), pa.string()), arr)


def _clean(arr: pa.Array) -> pa.Array:
    """Runs of whitespace → one space, trimmed, empty → null; RE2 replaces only where there is work."""
    dirty = pc.fill_null(pc.match_substring_regex(arr, f"^ | $|  |{ONE_WS_RE2}|^$"), False)
    if not pc.any(dirty).as_py():
        return arr
    idx = pc.indices_nonzero(dirty)
    done = _null_if_empty(pc.utf8_trim(pc.replace_substring_regex(pc.take(arr, idx), WS_RE2, " "), " "))
    out = arr.to_numpy(zero_copy_only=False).astype(object)
    out[idx.to_numpy()] = done.to_numpy(zero_copy_only=False)
    return pa.array(out, pa.string(), from_pandas=True)


def normalise(arr: pa.Array, code: str, cls: str, unit: str) -> pa.Array:
    arr = _clean(arr)
    if cls == "text":
        return arr
    if cls == "date":  # ISO dates (real or not) stay as written; the rest are read
        return _unless(arr, r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", _date)
    if cls == "decimal":  # canonical 万元 amounts stay; the rest are read
        if unit != "万元":
            return _distinct(arr, lambda t: _amount(t, unit))
        return _unless(arr, r"^(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{0,11}[1-9])?$", lambda t: _amount(t, unit))
    if cls in ("enum", "enum-multi"):
        table = aliases(code)
        return _distinct(arr, (lambda t: _enum(t, table)) if cls == "enum" else (lambda t: _multi(t, table)))
    arr = _where(arr, FULLWIDTH_RE2, lambda t: t.translate(HALF))
    if cls == "name":
        return pc.replace_substring_regex(pc.replace_substring_regex(arr, r" *\( *", "（"), r" *\) *", "）")
    if cls == "doc_no":
        arr = pc.replace_substring(arr, " ", "")
        arr = pc.replace_substring_regex(arr, r"[\[【(（［〔〖{]((?:19|20)\p{Nd}{2})[\]】)）］〕〗}]", r"〔\1〕")
        return pc.replace_substring_regex(arr, r"(\p{Nd})號", r"\1号")
    return _null_if_empty(upper(pc.replace_substring_regex(arr, r"[ \-]", "")))  # code


def upper(arr: pa.Array) -> pa.Array:
    """Python's ``str.upper`` (the project's definition: ß → SS, which ICU/utf8proc spell ẞ): ASCII in
    RE2, any other value per distinct value in Python."""
    return _where(pc.ascii_upper(arr), r"[^\x00-\x7f]", str.upper)


def _text(frame: pd.DataFrame, name: str) -> pa.Array:
    if name not in frame.columns:
        return pa.nulls(len(frame), pa.string())
    col = frame[name]
    arr = pa.array(col.array) if isinstance(col.dtype, (pd.StringDtype, pd.ArrowDtype)) else \
        pa.array(col.to_numpy(dtype=object), pa.string(), from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(pa.string())


def _sha256_each(arr: pa.Array) -> list[str]:
    """SHA-256 hex of each value, read straight from the Arrow buffers (no Python strings made)."""
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(arr.buffers()[1], width)[arr.offset:arr.offset + len(arr) + 1].tolist()
    data = memoryview(arr.buffers()[2]) if len(arr) else memoryview(b"")
    sha = hashlib.sha256
    return [sha(data[a:b]).hexdigest() for a, b in pairwise(offsets)]


def _blind_persons(party: pa.Array, person: pa.Array) -> pa.Array:
    """A natural person's key is stored as its blind index (#19 §3): HMAC-SM3 under the index key of the
    keyring in ``AIRFLOW_CONN_CREDITFLOW_PII`` (JSON form), over ``id`` 0x1F value, first 16 bytes, each nibble
    a letter a–p, prefixed ``bi:`` — written here from that definition, not imported."""
    import base64
    import json
    import os

    from cryptography.hazmat.primitives import hashes, hmac

    mask = np.asarray(pc.and_(person, pc.is_valid(party)).to_numpy(zero_copy_only=False), dtype=bool)
    if not mask.any():
        return party
    extra = json.loads(os.environ["AIRFLOW_CONN_CREDITFLOW_PII"])["extra"]
    key = base64.b64decode(extra["index_key"])
    letters = str.maketrans("0123456789abcdef", "abcdefghijklmnop")
    values = np.asarray(party.to_numpy(zero_copy_only=False), dtype=object)
    for i in np.flatnonzero(mask):
        mac = hmac.HMAC(key, hashes.SM3())
        mac.update(b"id\x1f" + str(values[i]).encode("utf-8"))
        values[i] = "bi:" + mac.finalize()[:16].hex().translate(letters)
    return pa.array(values, pa.string())


def floor_standardise(raw: pd.DataFrame, source_system: str, kind: str) -> pd.DataFrame:
    """Map (identity: field codes as headers), normalise, key and hash a chunk of source rows."""
    unit = amount_unit(source_system, kind)
    p = PREFIX[kind]
    raw = raw.reset_index(drop=True)
    cols = {code: normalise(_text(raw, code), code, field_class(code, ftype), unit)
            for code, ftype in fields(kind)}
    n = len(raw)
    key = _text(raw, "_source_key")
    given = pc.and_(pc.is_valid(key), pc.invert(pc.is_in(key, value_set=pa.array(["", "None", "nan"]))))
    key = pc.if_else(pc.fill_null(given, False), key, pa.array([""] * n, pa.string()))  # no lineage: ""
    record_id = pc.binary_join_element_wise(source_system, key, ":")
    doc_key = upper(cols[f"{p}_WSH"])
    party = cols[f"{p}_XDR_SHXYM"]
    for s in ("GSZC", "ZZJG", "SWDJ", "SYDW", "SHZZ"):  # the placeholder USCC: the first other code given
        other = cols[f"{p}_XDR_{s}"]
        swap = pc.and_(pc.fill_null(pc.equal(party, PLACEHOLDER), False), pc.is_valid(other))
        party = pc.if_else(swap, other, party)
    person = pc.fill_null(pc.equal(cols[f"{p}_XDR_LB"], "自然人"), False)
    party = pc.if_else(person, cols[f"{p}_XDR_ZJHM"], party)
    party = _blind_persons(party, person)
    natural = pc.binary_join_element_wise(doc_key, party, "|")  # null when either is
    pieces = [pc.binary_join_element_wise(f"{c}=", cols[c], "\x1f", "") for c in sorted(cols)]
    joined = pc.binary_join_element_wise(*pieces, "", null_handling="replace", null_replacement="")
    hashes = _sha256_each(joined)
    out = pd.DataFrame({c: pd.arrays.ArrowExtensionArray(a) for c, a in cols.items()})
    out["record_id"] = pd.arrays.ArrowExtensionArray(record_id)
    out["doc_key"] = pd.arrays.ArrowExtensionArray(doc_key)
    out["party_key"] = pd.arrays.ArrowExtensionArray(party)
    out["natural_key"] = pd.arrays.ArrowExtensionArray(natural)
    out["content_hash"] = hashes
    out["_row"] = np.arange(n)
    return out
