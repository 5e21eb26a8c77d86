"""Map source rows to the 双公示 fields and normalise them (mapping tables are data: sources.yaml).

Output frame: one column per field code of the kind (text or ``None``), plus lineage and key columns:
``record_id`` (``source_system:source_key``), ``source_system``, ``source_key``, ``lineage``,
``source_revoked`` (bool), ``natural_key``, ``doc_key``, ``party_key``, ``content_hash``, ``_row``.

Values that cannot be read are kept as cleaned text (so validation reports them with their value);
dates that can be read become ISO ``YYYY-MM-DD``; amounts become 万元 decimal text.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterable
from decimal import Decimal
from functools import cache
from importlib import resources
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
import yaml

from creditflow.core import identifiers as ids
from creditflow.core import normalize as nz
from creditflow.core import standard

META_COLUMNS = ["record_id", "source_system", "source_key", "lineage", "source_revoked", "changed_at"]
KEY_COLUMNS = ["natural_key", "doc_key", "party_key", "content_hash"]


@cache
def source_config() -> dict[str, Any]:
    path = resources.files("creditflow") / "data" / "mapping" / "sources.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@cache
def code_table(name: str) -> dict[str, str]:
    path = resources.files("creditflow") / "data" / "mapping" / f"{name}.csv"
    with path.open(encoding="utf-8") as fh:
        return {r["system_code"]: r["standard_value"] for r in csv.DictReader(fh)}


@cache
def enum_aliases() -> dict[str, dict[str, str]]:
    path = resources.files("creditflow") / "data" / "standard" / "enum_aliases.csv"
    out: dict[str, dict[str, str]] = {}
    with path.open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            out.setdefault(r["enum"], {})[r["alias"]] = r["value"]
    return out


def precedence(source_system: str) -> int:
    return int(source_config()["precedence"].get(source_system, 99))


# --- field normalisers -------------------------------------------------------------------------------

_NAME_SUFFIXES = ("_MC", "_CFJG", "_XKJG", "_SSJG", "_SJLY", "_LYDW", "_FRDB")
_CODE_SUFFIXES = ("_SHXYM", "_GSZC", "_ZZJG", "_SWDJ", "_SYDW", "_SHZZ", "_ZJHM", "DM")


def _amount_text(value: object, unit: str) -> str | None:
    text = nz.clean_text(value)
    if text is None:
        return None
    amount = nz.parse_amount(value, unit)
    if amount is None:
        return text
    return format(amount.normalize() if amount != 0 else Decimal(0), "f")


def _date_text(value: object) -> str | None:
    if nz.clean_text(value) is None and not isinstance(value, (int, float)):
        return None
    d = nz.parse_date(value)
    return d.isoformat() if d else nz.clean_text(value)


def _enum_text(code: str) -> Callable[[object], str | None]:
    aliases: dict[str, str] = {}
    for suffix, enum in standard.ENUM_OF_SUFFIX.items():
        if code.endswith(suffix) or code == suffix:
            for part in enum.split("+"):
                aliases.update(enum_aliases().get(part, {}))

    def norm(value: object) -> str | None:
        text = nz.clean_text(value)
        if text is None:
            return None
        text = nz.to_halfwidth(text).replace(" ", "")
        return aliases.get(text, text)
    return norm


def _multi_enum_text(code: str) -> Callable[[object], str | None]:
    single = _enum_text(code)

    def norm(value: object) -> str | None:
        parts = [single(p) for p in nz.split_multi(value)]
        joined = ";".join(p for p in parts if p)
        return joined or None
    return norm


# --- vectorised fast path -----------------------------------------------------------------------------
#
# Most cells are already in normal form. A *safe* pattern (RE2 through pyarrow.compute, over the whole
# column at once) picks the values a normaliser provably returns unchanged; only the others go through the
# scalar normaliser (once per distinct value). The patterns are conservative by construction: any
# character the scalar normaliser could change (whitespace as Python's ``\s`` sees it, full-width forms,
# brackets, 號, lower case …) sends the value to the scalar path, so the results are identical — which
# tests/unit/test_standardise_vectorised.py checks on generated values.


@cache
def _whitespace_class(include_space: bool) -> str:
    """RE2 class of :data:`normalize.WHITESPACE_CHARS` (with or without the ASCII space)."""
    return nz.re2_class("".join(c for c in nz.WHITESPACE_CHARS if include_space or c != " "))


_arrow_text = nz.arrow_text


def _np(mask: Any) -> np.ndarray:
    return np.asarray(mask.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _no_whitespace(arr: Any) -> Any:
    import pyarrow.compute as pc

    return pc.and_(pc.greater(pc.utf8_length(arr), 0),
                   pc.invert(pc.match_substring_regex(arr, _whitespace_class(True))))


def _safe_clean(arr: Any) -> Any:
    """``clean_text`` returns the value unchanged: non-empty, only single inner ASCII spaces."""
    import pyarrow.compute as pc

    return pc.and_(pc.greater(pc.utf8_length(arr), 0), pc.invert(pc.match_substring_regex(
        arr, "^ | $|  |" + _whitespace_class(False))))


def _safe_name(arr: Any) -> Any:
    """``normalize_name``: no whitespace, no full-width form but （）, no half-width parentheses."""
    import pyarrow.compute as pc

    return pc.and_(_no_whitespace(arr), pc.invert(pc.match_substring_regex(
        arr, r"[\x{ff01}-\x{ff07}\x{ff0a}-\x{ff5e}\x{3000}()]")))


def _safe_doc_no(arr: Any) -> Any:
    """``normalize_doc_no``: no whitespace, no full-width form, no bracket but 〔〕, no 號."""
    import pyarrow.compute as pc

    return pc.and_(_no_whitespace(arr), pc.invert(pc.match_substring_regex(
        arr, r"[\x{ff01}-\x{ff5e}\x{3000}\[\]【】()［］〖〗{}號]")))


def _safe_code(arr: Any) -> Any:
    import pyarrow.compute as pc

    return pc.match_substring_regex(arr, r"^[0-9A-Z]+$")


def _safe_iso_date(arr: Any) -> Any:
    """``_date_text`` of ``dddd-dd-dd`` is the value itself (a real date re-written the same, an
    impossible one kept as its text)."""
    import pyarrow.compute as pc

    return pc.match_substring_regex(arr, r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _safe_wan_amount(arr: Any) -> Any:
    """An amount in 万元 already in canonical form (no leading zeros, no trailing fraction zeros, few
    enough digits that ``Decimal.normalize`` keeps them all)."""
    import pyarrow.compute as pc

    return pc.match_substring_regex(arr, r"^(0|[1-9][0-9]{0,11})(\.[0-9]{0,11}[1-9])?$")


def _safe_mask(f: standard.Field, amount_unit: str) -> Callable[[Any], Any] | None:
    code = f.code
    if f.type == "date":
        return _safe_iso_date
    if f.type == "decimal":
        return _safe_wan_amount if amount_unit == "万元" else None
    if f.type in ("enum", "enum-multi"):
        return None  # few distinct values: the scalar path per distinct value is cheap
    if code.endswith("_WSH"):
        return _safe_doc_no
    if f.type == "uscc" or code.endswith(_CODE_SUFFIXES):
        return _safe_code
    if code.endswith(_NAME_SUFFIXES):
        return _safe_name
    return _safe_clean


def normalise_column(series: pd.Series, f: standard.Field, amount_unit: str = "万元") -> pd.Series:
    """:func:`normaliser` of ``f`` over a column: values the safe pattern proves normal stay as they are,
    the rest go through the scalar normaliser once per distinct value. Same result as the scalar path."""
    fn = normaliser(f, amount_unit)
    safe = _safe_mask(f, amount_unit)
    arr = _arrow_text(series) if len(series) else None
    if arr is None:
        return _map_unique(series.astype(object), fn)
    if safe is None:
        return pd.Series(_per_distinct(arr, fn), index=series.index, dtype=object)
    out = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object)
    rest = ~_np(safe(arr))
    if rest.any():
        out[rest] = _per_distinct(arr.filter(rest), fn)
    return pd.Series(out, index=series.index, dtype=object)


def _per_distinct(arr: Any, fn: Callable[[object], str | None]) -> np.ndarray:
    """``fn`` once per distinct value of a pyarrow string array (nulls → ``fn(None)``), as objects."""
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(arr)
    distinct = encoded.dictionary.to_pylist()
    mapped = np.array([*(fn(v) for v in distinct), fn(None), None], dtype=object)[:-1]
    index = encoded.indices.fill_null(len(distinct)).to_numpy(zero_copy_only=False)
    return mapped[index]


def normaliser(f: standard.Field, amount_unit: str = "万元") -> Callable[[object], str | None]:
    code = f.code
    if f.type == "date":
        return _date_text
    if f.type == "decimal":
        return lambda v: _amount_text(v, amount_unit)
    if f.type == "enum-multi":
        return _multi_enum_text(code)
    if f.type == "enum":
        return _enum_text(code)
    if code.endswith("_WSH"):
        return nz.normalize_doc_no
    if f.type == "uscc" or code.endswith(_CODE_SUFFIXES):
        return nz.normalize_code
    if code.endswith(_NAME_SUFFIXES):
        return nz.normalize_name
    return nz.clean_text


def _map_unique(series: pd.Series, fn: Callable[[object], str | None]) -> pd.Series:
    """Apply a scalar normaliser once per distinct value (most columns repeat a lot).

    Values pandas cannot test or hash (a signalling-NaN ``Decimal``, a list) take a per-value path."""
    values = series.astype(object)
    try:
        nulls = values.isna()
        uniq = pd.unique(values[~nulls])
    except (TypeError, ArithmeticError):
        cells = [fn(None if nz.is_missing(v) else v) for v in values]
        return pd.Series(cells, index=series.index, dtype=object).where(lambda s: s.notna(), None)
    if nulls.all():
        return pd.Series([None] * len(series), index=series.index, dtype=object)
    mapping = {v: fn(v) for v in uniq}
    out = values.map(mapping).astype(object)
    out[nulls] = fn(None)
    return out.where(out.notna(), None)


# --- mapping -----------------------------------------------------------------------------------------


def _flatten(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _const(value: str) -> Any:
    node: Any = source_config()
    if isinstance(value, str) and value.startswith("data_source_unit."):
        for part in value.split("."):
            node = node[part]
        return node
    return value


def map_source_rows(rows: Iterable[dict[str, Any]] | pd.DataFrame, source_system: str, kind: str,
                    lineage: str | Callable[[dict[str, Any]], str] = "") -> pd.DataFrame:
    """Source rows → a frame with field codes (values still raw) and meta columns."""
    cfg = source_config()["sources"][source_system]
    spec = cfg.get(kind) or cfg.get("*")
    if spec is None:
        raise KeyError(f"no mapping for {kind} from {source_system}")
    raw = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame([_flatten(r) for r in rows])
    n = len(raw)
    out = pd.DataFrame(index=range(n))
    raw = raw.reset_index(drop=True)
    if spec.get("identity"):
        for code in standard.codes(kind):
            out[code] = raw[code] if code in raw.columns else None
        out["source_key"] = raw["_source_key"] if "_source_key" in raw.columns else None
        out["lineage"] = raw["_lineage"] if "_lineage" in raw.columns else lineage
        out["source_revoked"] = False
        out["changed_at"] = raw.get("_changed_at")
    else:
        for code, how in spec["fields"].items():
            if isinstance(how, str):
                out[code] = raw[how] if how in raw.columns else None
            elif "const" in how:
                out[code] = _const(how["const"])
            else:
                col = raw[how["from"]] if how["from"] in raw.columns else pd.Series([None] * n)
                if "map" in how:
                    mapping = {str(k): v for k, v in how["map"].items()}
                    out[code] = col.map(lambda v, m=mapping: m.get(str(v), v) if v is not None else None)
                elif "codes" in how:
                    table = code_table(how["codes"])
                    out[code] = col.map(lambda v, t=table, h=how: h["join"].join(
                        t.get(c.strip(), c.strip()) for c in str(v).split(h["split"]) if c.strip())
                        if v is not None and str(v).strip() else None)
                elif "present" in how:
                    out[code] = np.where(col.notna() & (col.astype(str).str.strip() != ""),
                                         how["present"], how["absent"])
                elif "amount" in how:
                    out[code] = col.map(lambda v, u=how["amount"]: None if v is None or pd.isna(v)
                                        else _amount_text(v, u))
                else:
                    out[code] = col
        out["source_key"] = raw[spec["source_key"]].astype(str)
        out["lineage"] = [lineage(r) if callable(lineage) else lineage for r in raw.to_dict("records")] \
            if callable(lineage) else lineage
        status = spec.get("status")
        if status and status["from"] in raw.columns:
            out["source_revoked"] = raw[status["from"]].isin(status["revoked"]).to_numpy()
        else:
            out["source_revoked"] = False
        out["changed_at"] = raw[spec["changed_at"]].astype(str) if spec.get("changed_at") in raw.columns else None
    out["source_system"] = source_system
    return out


def standardise(mapped: pd.DataFrame, kind: str, amount_unit: str = "万元", blind_keys: bool = True) -> pd.DataFrame:
    """Normalise the field columns of a mapped frame and compute keys and content hash. A natural person's
    party key is their blind index (#19 §3, :func:`creditflow.core.pii.party_key`) unless ``blind_keys`` is
    false (a key only ever shown masked, never stored)."""
    out = mapped.reset_index(drop=True)  # copy-on-write (pandas 3): ``mapped`` stays as it was
    for f in standard.fields(kind):
        col = out[f.code] if f.code in out.columns else pd.Series([None] * len(out))
        out[f.code] = normalise_column(col, f, amount_unit)
    missing_key = out["source_key"].isna() | (out["source_key"].astype(str).isin(["", "None", "nan"]))
    out.loc[missing_key, "source_key"] = out.loc[missing_key, "lineage"].astype(str)
    out["record_id"] = out["source_system"].astype(str) + ":" + out["source_key"].astype(str)
    _add_keys(out, kind, blind_keys)
    out["content_hash"] = content_hashes(out, kind)
    out["_row"] = np.arange(len(out))
    return out


def _add_keys(out: pd.DataFrame, kind: str, blind_keys: bool) -> None:
    """``doc_key``, ``party_key`` and ``natural_key`` (文书号 | party) of normalised rows, in place."""
    p = standard.PREFIX[kind]
    out["doc_key"] = _upper(out[f"{p}_WSH"])
    out["party_key"] = party_keys(out, kind)
    if blind_keys:
        out["party_key"] = blind_party_keys(out, kind)
    has_key = out["doc_key"].notna() & out["party_key"].notna()
    out["natural_key"] = np.where(has_key, out["doc_key"].astype(str) + "|" + out["party_key"].astype(str), None)


_PARTY_CODES = ("XDR_LB", "XDR_SHXYM", "XDR_GSZC", "XDR_ZZJG", "XDR_SWDJ", "XDR_SYDW", "XDR_SHZZ", "XDR_ZJHM")


def natural_keys(mapped: pd.DataFrame, kind: str, amount_unit: str = "万元") -> pd.DataFrame:
    """What :func:`standardise` gives as ``natural_key`` (clear: ``blind_keys=False``) and the party category,
    from only the fields the key is made of (文书号 and the party's codes), normalised the same way — for the
    district inbox, which names each file row by its key before the row is staged."""
    p = standard.PREFIX[kind]
    fmap = standard.field_map(kind)
    out = pd.DataFrame(index=range(len(mapped)))
    for code in (f"{p}_WSH", *(f"{p}_{c}" for c in _PARTY_CODES)):
        if code in fmap:
            col = mapped[code].reset_index(drop=True) if code in mapped.columns else pd.Series([None] * len(out))
            out[code] = normalise_column(col, fmap[code], amount_unit)
    _add_keys(out, kind, blind_keys=False)
    return out[[f"{p}_XDR_LB", "natural_key"]]


def _upper(values: pd.Series) -> pd.Series:
    """``str.upper`` of the text values (others → None): ASCII and CJK text vectorised (only a-z change
    there), anything else through Python's ``upper``."""
    import pyarrow.compute as pc

    obj = values.astype(object)
    arr = _arrow_text(obj)
    if arr is None:
        return obj.map(lambda v: v.upper() if isinstance(v, str) else None)
    plain = _np(pc.match_substring_regex(arr, r"^[\x{0}-\x{7f}\x{3000}-\x{303f}\x{4e00}-\x{9fff}]*$"))
    out = np.asarray(pc.ascii_upper(arr).to_numpy(zero_copy_only=False), dtype=object)
    if not plain.all():
        other = obj.to_numpy(dtype=object)[~plain]
        out[~plain] = [v.upper() if isinstance(v, str) else None for v in other]
    out[obj.isna().to_numpy()] = None
    return pd.Series(out, index=values.index)  # dtype inferred, as ``Series.map`` does


def party_keys(df: pd.DataFrame, kind: str) -> pd.Series:
    """USCC for organisations; ID number for natural persons; another code under the placeholder."""
    p = standard.PREFIX[kind]
    lb = df[f"{p}_XDR_LB"]
    key = df[f"{p}_XDR_SHXYM"].astype(object)
    placeholder = key == ids.USCC_PLACEHOLDER
    if placeholder.any():
        for s in ("GSZC", "ZZJG", "SWDJ", "SYDW", "SHZZ"):
            other = df[f"{p}_XDR_{s}"]
            fill = placeholder & other.notna() & (key == ids.USCC_PLACEHOLDER)
            key = key.where(~fill, other)
    key = key.where(lb != "自然人", df[f"{p}_XDR_ZJHM"])
    return key.where(key.notna(), None)


def blind_party_keys(df: pd.DataFrame, kind: str) -> pd.Series:
    """``party_key`` with a natural person's code replaced by its blind index (organisations' as they are)."""
    from creditflow.core import pii

    person = ((df[f"{standard.PREFIX[kind]}_XDR_LB"] == "自然人").to_numpy(dtype=bool)
              & df["party_key"].notna().to_numpy())
    if not person.any():
        return df["party_key"]
    ring = pii.keyring()
    out = df["party_key"].astype(object).copy()
    out[person] = [pii.party_key(str(v), True, ring) for v in out[person]]
    return out


def content_hashes(df: pd.DataFrame, kind: str) -> list[str]:
    return row_hashes(df, standard.codes(kind))


#: Rows hashed at a time: the ``code=value`` texts of a slice are joined and hashed, then dropped, so the
#: joined text never exists for a whole frame at once (for 100,000 records it was ≈ 340 MB at its peak).
HASH_SLICE = 10_000


def row_hashes(df: pd.DataFrame, codes: list[str]) -> list[str]:
    """SHA-256 of each row's non-empty ``code=value`` pairs (vectorised; order-independent of columns),
    :data:`HASH_SLICE` rows at a time."""
    out: list[str] = []
    for start in range(0, len(df), HASH_SLICE):
        out += _slice_hashes(df.iloc[start:start + HASH_SLICE], codes)
    return out


def _slice_hashes(df: pd.DataFrame, codes: list[str]) -> list[str]:
    import pyarrow as pa
    import pyarrow.compute as pc

    pieces: list[Any] = []
    for code in sorted(codes):
        col = df[code] if code in df.columns else pd.Series(None, index=df.index, dtype=object)
        arr = _arrow_text(col.astype(object))
        if arr is None:  # values that are not text: the per-value path below
            pieces = []
            break
        if pc.any(pc.equal(arr, "")).as_py():  # an empty value counts as absent, like a null
            arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)
        pieces.append(pc.binary_join_element_wise(f"{code}=", arr, "\x1f", ""))  # null where absent
    if pieces:
        return _sha256_each(pc.binary_join_element_wise(*pieces, "", null_handling="replace",
                                                        null_replacement=""))
    joined = pd.Series("", index=df.index, dtype=object)
    for code in sorted(codes):
        col = df[code] if code in df.columns else pd.Series(None, index=df.index, dtype=object)
        text = col.astype(object)
        present = text.notna() & (text != "")
        piece = (code + "=" + text.where(present, "").astype(str) + "\x1f").where(present, "")
        joined = joined + piece
    return [hashlib.sha256(s.encode()).hexdigest() for s in joined.tolist()]


def _sha256_each(arr: Any) -> list[str]:
    """SHA-256 hex of each value of a pyarrow string array, read from its UTF-8 buffer (no Python
    strings made; a null hashes as the empty text)."""
    offsets = np.frombuffer(arr.buffers()[1], np.int32)[arr.offset:arr.offset + len(arr) + 1].tolist()
    data = memoryview(arr.buffers()[2] or b"")
    sha = hashlib.sha256
    return [sha(data[a:b]).hexdigest() for a, b in pairwise(offsets)]


def payload(row: dict[str, Any], kind: str) -> dict[str, Any]:
    """The record as sent to the platform: standard fields with a value."""
    return {c: row[c] for c in standard.codes(kind) if row.get(c) not in (None, "")}
