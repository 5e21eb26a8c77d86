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
import json
from collections.abc import Callable, Iterable
from decimal import Decimal
from functools import cache
from importlib import resources
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


def standardise(mapped: pd.DataFrame, kind: str, amount_unit: str = "万元") -> pd.DataFrame:
    """Normalise the field columns of a mapped frame and compute keys and content hash."""
    out = mapped.copy().reset_index(drop=True)
    for f in standard.fields(kind):
        col = out[f.code] if f.code in out.columns else pd.Series([None] * len(out))
        out[f.code] = _map_unique(col, normaliser(f, amount_unit))
    p = standard.PREFIX[kind]
    missing_key = out["source_key"].isna() | (out["source_key"].astype(str).isin(["", "None", "nan"]))
    out.loc[missing_key, "source_key"] = out.loc[missing_key, "lineage"].astype(str)
    out["record_id"] = out["source_system"].astype(str) + ":" + out["source_key"].astype(str)
    out["doc_key"] = out[f"{p}_WSH"].map(lambda v: v.upper() if isinstance(v, str) else None)
    out["party_key"] = party_keys(out, kind)
    has_key = out["doc_key"].notna() & out["party_key"].notna()
    out["natural_key"] = np.where(has_key, out["doc_key"].astype(str) + "|" + out["party_key"].astype(str), None)
    out["content_hash"] = content_hashes(out, kind)
    out["_row"] = np.arange(len(out))
    return out


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


def content_hashes(df: pd.DataFrame, kind: str) -> list[str]:
    return row_hashes(df, standard.codes(kind))


def row_hashes(df: pd.DataFrame, codes: list[str]) -> list[str]:
    """SHA-256 of each row's non-empty ``code=value`` pairs (vectorised; order-independent of columns)."""
    if df.empty:
        return []
    joined = pd.Series("", index=df.index, dtype=object)
    for code in sorted(codes):
        col = df[code] if code in df.columns else pd.Series(None, index=df.index, dtype=object)
        text = col.astype(object)
        present = text.notna() & (text != "")
        piece = (code + "=" + text.where(present, "").astype(str) + "\x1f").where(present, "")
        joined = joined + piece
    return [hashlib.sha256(s.encode()).hexdigest() for s in joined.tolist()]


def canonical_json(record: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in record.items() if v not in (None, "")}, sort_keys=True,
                      ensure_ascii=False)


def payload(row: dict[str, Any], kind: str) -> dict[str, Any]:
    """The record as sent to the platform: standard fields with a value."""
    return {c: row[c] for c in standard.codes(kind) if row.get(c) not in (None, "")}
