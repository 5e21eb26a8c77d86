"""The auditor's PII scan (#19 §3): raw bytes of what the project stores, searched for personal data in clear.

What counts as a finding:

* ``id`` — an 18-character resident ID number (17 digits and a digit or X) that stands alone — no ASCII letter
  or digit next to it, so hex digests, base64 tokens and longer codes are not taken for one; an escape sequence
  in front of it (``\\u53f7``, ``\\n`` of JSON or of a ``pg_dump`` COPY line) does not hide it — and passes the
  GB 11643 check (:func:`creditflow.core.identifiers.check_ric`: check digit, real birth date, known area
  code). A USCC, a masked number (``4404**********0014``) or a blind-index digest never matches.
* ``manifest_id`` — any ID number of the generator's manifest, anywhere, even inside a longer run.
* ``name`` — the name of a natural person who is the party of a decision in the manifest, ``legal_rep`` —
  an enterprise's legal representative (a natural person too; counted apart), as UTF-8 or as JSON's
  ``\\uXXXX`` escapes (``json.dumps`` escapes non-ASCII by default).
  A name inside the name of an enterprise of the manifest (珠海王华…有限公司) is not a person's name.

Sources: a SQLite file (its bytes and those of its ``-wal``, ``-shm`` and ``-journal`` siblings — freed pages
keep old values — and, to name the table, its live rows), a PostgreSQL database (``pg_dump``'s text, by
table), a folder (every file in it; SQLite files inside as above). The report never shows a clear value:
samples go through :func:`creditflow.common.mask_id`, names keep their first character (``王＊``).

No Airflow import: the CLI is ``creditflow audit pii-scan`` (:mod:`creditflow.audit.cli`). Run it as a process
of its own, as the CLI does: reading a SQLite file's bytes (open, read, close) inside a process that also has
that database open through SQLite drops the POSIX locks of its connections, and the file can be corrupted.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from creditflow.common import mask_id

#: How many masked samples a place keeps.
SAMPLES = 3
SQLITE_MAGIC = b"SQLite format 3\x00"
SQLITE_SIBLINGS = ("-wal", "-shm", "-journal")

# An escape sequence may stand right before a value: JSON's \uXXXX and \n, pg_dump COPY's \t \n \r, \xHH.
_BEFORE = rb"(?:(?<![0-9A-Za-z])|(?<=\\u[0-9A-Fa-f]{4})|(?<=\\[nrtbfv])|(?<=\\x[0-9A-Fa-f]{2}))"
_ESCAPE_BEFORE = re.compile(_BEFORE + rb"$")


_ESCAPE_OPEN = re.compile(rb"\\(?:u([0-9A-Fa-f]{0,3})|x([0-9A-Fa-f]?))$")


def _escape_digits(data: bytes, start: int) -> int:
    """How many digits at ``start`` still belong to an escape sequence begun before it: in ``\\u53f7440402…``
    the run of digits starts with the escape's ``7``."""
    m = _ESCAPE_OPEN.search(data, max(0, start - 5), start)
    if m is None:
        return 0
    return 4 - len(m.group(1)) if m.group(1) is not None else 2 - len(m.group(2))


def _stands_alone(data: bytes, start: int, end: int) -> bool:
    """No ASCII letter or digit touches ``data[start:end]``, except the escape sequence of ``_BEFORE``."""
    if end < len(data) and chr(data[end]).isascii() and chr(data[end]).isalnum():
        return False
    if start == 0 or not (chr(data[start - 1]).isascii() and chr(data[start - 1]).isalnum()):
        return True
    return _ESCAPE_BEFORE.search(data, max(0, start - 6), start) is not None
_DIGIT_RUN = re.compile(rb"[0-9]{17,}[0-9Xx]?")


def mask_name(name: str) -> str:
    """A person's name as the report shows it: the surname, the rest as ＊ (王＊＊)."""
    return name[:1] + "＊" * max(1, len(name) - 1)


def json_escaped(text: str) -> bytes:
    """``text`` as ``json.dumps`` writes it by default (non-ASCII as ``\\uXXXX``), without the quotes."""
    return json.dumps(text)[1:-1].encode("ascii")


def _trie_regex(words: Iterable[bytes]) -> re.Pattern[bytes] | None:
    """One regex matching any of ``words`` (longest first at a position), built as a trie: Python's ``re``
    then tests one branch per byte instead of every word at every position."""
    trie: dict[int, Any] = {}
    for word in words:
        node = trie
        for byte in word:
            node = node.setdefault(byte, {})
        node[-1] = {}
    if not trie:
        return None

    def build(node: dict[int, Any]) -> str:
        ends = -1 in node
        branches = [re.escape(bytes([b])).decode("latin-1") + build(child)
                    for b, child in sorted(node.items()) if b != -1]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if ends else body

    return re.compile(build(trie).encode("latin-1"))


@dataclass
class Truth:
    """What the generator's manifest says is personal: ID numbers, natural persons' names, and the names of
    enterprises (only to tell a surname inside a company name from a person's name)."""

    ids: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    enterprises: set[str] = field(default_factory=set)
    #: enterprises' legal representatives (法定代表人): natural persons too, counted apart (kind ``legal_rep``)
    legal_reps: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._compiled: tuple[Any, ...] | None = None

    def compiled(self) -> tuple[Any, ...]:
        if self._compiled is None:
            forms: dict[bytes, tuple[str, str]] = {}
            for kind, names in (("legal_rep", self.legal_reps), ("name", self.names)):   # a party wins
                for name in names:
                    forms[name.encode("utf-8")] = forms[json_escaped(name)] = (name, kind)
            # enterprise names that contain a person's name, by the form of that name: (offset, bytes)
            around: dict[bytes, list[tuple[int, bytes]]] = {}
            for ent in self.enterprises:
                for form_of_ent in (ent.encode("utf-8"), json_escaped(ent)):
                    for form in forms:
                        start = form_of_ent.find(form)
                        while start >= 0:
                            around.setdefault(form, []).append((start, form_of_ent))
                            start = form_of_ent.find(form, start + 1)
            ids = {i.upper().encode("ascii") for i in self.ids if i.isascii()}
            ids |= {i.lower() for i in ids}
            self._compiled = (_trie_regex(sorted(forms, key=len, reverse=True)), forms, around, ids)
        return self._compiled


def read_manifest_truth(path: str | Path) -> Truth:
    """The personal data of a generator manifest (JSON lines; ``party`` per decision, see the generator).

    Older manifests without ``party`` still give the ID numbers: the part after ``|`` of a natural key."""
    truth = Truth()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            m = json.loads(line)
            party = m.get("party") or {}
            if party.get("type") == "PER":
                if party.get("name"):
                    truth.names.add(str(party["name"]))
                if party.get("id_no"):
                    truth.ids.add(str(party["id_no"]))
            elif party.get("name"):
                truth.enterprises.add(str(party["name"]))
            if party.get("legal_rep"):
                truth.legal_reps.add(str(party["legal_rep"]))
            key = str(m.get("natural_key") or "")
            tail = key.rpartition("|")[2]
            if m.get("review") == "natural_person" and re.fullmatch(r"[0-9]{17}[0-9X]", tail):
                truth.ids.add(tail)
    return truth


def _is_resident_id(number: str) -> bool:
    from creditflow.core.identifiers import check_ric

    if number[6:10] < "1900":
        return False
    verdict = check_ric(number.upper())
    return not verdict.errors and not verdict.warnings


@dataclass
class Place:
    """Findings in one place (a file, a table, the free pages of a database): counts and masked samples."""

    counts: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    #: the distinct clear values found (to compare places; never printed nor in :meth:`Source.as_dict`)
    values: set[str] = field(default_factory=set, repr=False)

    def add(self, kind: str, sample: str, value: str) -> None:
        self.counts[kind] += 1
        self.values.add(value)
        if sample not in self.samples and len(self.samples) < SAMPLES:
            self.samples.append(sample)

    def merge(self, other: Place) -> None:
        for kind, n in other.counts.items():
            self.counts[kind] += n
        self.values |= other.values
        for s in other.samples:
            if s not in self.samples and len(self.samples) < SAMPLES:
                self.samples.append(s)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def scan_bytes(data: bytes, truth: Truth | None = None, packed: bool = False) -> Place:
    """Every finding in ``data`` (see the module docstring), counted once per position. ``packed``: the raw
    pages of a database, where a letter next to a number is the end of the previous column."""
    place = Place()
    seen: set[int] = set()
    if packed:
        # In a database page the values of a row stand side by side with no separator ("RIC", the number,
        # "2026-11-02…"): every 18 characters of a digit run are a candidate; the GB 11643 check with a known
        # area code and a birth year from 1900 keeps other numbers out (about 4 in a million windows pass).
        for m in _DIGIT_RUN.finditer(data):
            run, k = m.group(0), 0
            while k <= len(run) - 18:
                number = run[k:k + 18].decode("ascii")
                if _is_resident_id(number):
                    seen.add(m.start() + k)
                    place.add("id", mask_id(number.upper()), number.upper())
                    k += 18
                else:
                    k += 1
    else:
        # A maximal digit run of exactly 18 (the last may be X) whose neighbours are checked by hand: twice as
        # fast as one regex with the escape look-behinds over every position.
        for m in _DIGIT_RUN.finditer(data):
            start, end = m.span()
            start += _escape_digits(data, start)
            if end - start != 18 or not _stands_alone(data, start, end):
                continue
            number = data[start:end].decode("ascii").upper()
            if _is_resident_id(number):
                seen.add(start)
                place.add("id", mask_id(number), number)
    if truth is None:
        return place
    regex, forms, around, ids = truth.compiled()
    if ids:
        for m in _DIGIT_RUN.finditer(data):
            run = m.group(0)
            for k in range(len(run) - 17):
                if m.start() + k not in seen and run[k:k + 18] in ids:
                    seen.add(m.start() + k)
                    number = run[k:k + 18].decode("ascii").upper()
                    place.add("manifest_id", mask_id(number), number)
    if regex is not None:
        for m in regex.finditer(data):
            form = m.group(0)
            if any(data[m.start() - off:m.start() - off + len(ent)] == ent for off, ent in around.get(form, ())
                   if m.start() >= off):
                continue
            name, kind = forms[form]
            place.add(kind, mask_name(name), name)
    return place


# --- sources --------------------------------------------------------------------------------------------

@dataclass
class Source:
    """One source of the scan: its places (file, table, free pages …) with their findings, and notes."""

    label: str
    places: dict[str, Place] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def place(self, name: str) -> Place:
        return self.places.setdefault(name, Place())

    @property
    def total(self) -> int:
        """Findings in the source: for a SQLite file those of its bytes (its tables' rows are a subset,
        listed to say where they live)."""
        raw = [p.total for name, p in self.places.items() if name.startswith("bytes:")]
        return sum(raw) if self.label.startswith("sqlite:") else sum(p.total for p in self.places.values())

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.label, "total": self.total, "notes": self.notes,
                "places": {name: {"counts": dict(p.counts), "samples": p.samples}
                           for name, p in sorted(self.places.items()) if p.total}}


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _sqlite_rows(path: Path, truth: Truth | None) -> dict[str, Place]:
    """Findings in the live rows of each table (read-only, through SQLite itself)."""
    out: dict[str, Place] = {}
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return out
    try:
        conn.text_factory = bytes
        tables = [r[0].decode() for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            place = Place()
            quoted = '"' + table.replace('"', '""') + '"'
            cur = conn.execute(f"SELECT * FROM {quoted}")  # the table name comes from sqlite_master
            while rows := cur.fetchmany(2000):
                chunk = b"\x00".join(v if isinstance(v, bytes) else str(v).encode() for row in rows for v in row
                                     if v is not None)
                place.merge(scan_bytes(chunk, truth))
            if place.total:
                out[table] = place
    except sqlite3.Error:
        pass
    finally:
        conn.close()
    return out


def scan_sqlite(path: str | Path, truth: Truth | None = None, label: str | None = None) -> Source:
    """A SQLite file: its raw bytes and its siblings' (``-wal``, ``-shm``, ``-journal``), and by table its
    live rows. What the raw bytes hold beyond the live rows is old values: in the ``-wal`` (its frames stay
    after the automatic, passive checkpoint until a ``wal_checkpoint(TRUNCATE)``) or in freed space of the
    file (zeroed only where SQLite is built with ``SECURE_DELETE``, as Debian's is; elsewhere ``VACUUM``)."""
    path = Path(path)
    src = Source(label or f"sqlite:{path}")
    raw = Place()
    for suffix in ("", *SQLITE_SIBLINGS):
        part = Path(f"{path}{suffix}")
        if part.exists():
            found = scan_bytes(_read(part), truth, packed=True)
            raw.merge(found)
            if found.total:
                src.place(f"bytes:{part.name}").merge(found)
    rows = _sqlite_rows(path, truth)
    live: set[str] = set().union(*(p.values for p in rows.values()))
    for table, place in rows.items():
        src.places[f"table:{table}"] = place
    old = raw.values - live
    if old:
        src.notes.append(f"有{len(old)}个不同的值只在文件字节中、不在任何现存行中（WAL或空闲页中的旧值）："
                         "改写后需执行 PRAGMA wal_checkpoint(TRUNCATE) 并 VACUUM")
    return src


def _libpq(url: str) -> tuple[str, list[str]]:
    """A SQLAlchemy or libpq URL as pg_dump takes it, and ``-n SCHEMA`` when the URL sets a search_path."""
    parts = urlsplit(url)
    scheme = "postgresql"
    query = parse_qs(parts.query)
    extra: list[str] = []
    for opt in query.pop("options", []):
        for m in re.finditer(r"-csearch_path=([^\s]+)", unquote(opt)):
            for schema in m.group(1).split(","):
                extra += ["-n", schema]
    rest = "&".join(f"{k}={v}" for k, vs in query.items() for v in vs)
    return urlunsplit((scheme, parts.netloc, parts.path, rest, "")), extra


_COPY = re.compile(rb"^COPY ([^\s(]+)", re.MULTILINE)


def scan_postgres(url: str, truth: Truth | None = None, pg_dump: str | None = None) -> Source:
    """A PostgreSQL database as ``pg_dump`` writes it (plain text), by table (its COPY block)."""
    dsn, extra = _libpq(url)
    where = urlsplit(dsn)
    port = f":{where.port}" if where.port else ""
    schemas = f"（schema {','.join(extra[1::2])}）" if extra else ""
    src = Source(f"postgresql://{where.hostname or ''}{port}{where.path}{schemas}")   # no user, no password
    exe = pg_dump or shutil.which("pg_dump") or "/usr/bin/pg_dump"
    done = subprocess.run([exe, "--no-owner", "--no-privileges", *extra, dsn], capture_output=True, check=False)
    if done.returncode:
        raise RuntimeError(f"pg_dump 失败：{done.stderr.decode(errors='replace').strip()[:300]}")
    dump = done.stdout
    starts = [(m.start(), m.group(1).decode()) for m in _COPY.finditer(dump)]
    pieces = [(0, starts[0][0] if starts else len(dump), "schema")]
    for i, (start, table) in enumerate(starts):
        end = dump.find(b"\n\\.\n", start)
        end = len(dump) if end < 0 else end
        pieces.append((start, end, table))
        nxt = starts[i + 1][0] if i + 1 < len(starts) else len(dump)
        pieces.append((end, nxt, "schema"))
    for start, end, name in pieces:
        found = scan_bytes(dump[start:end], truth)
        if found.total:
            src.place(f"table:{name}").merge(found)
    return src


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, _dirs, files in os.walk(root):
        for name in sorted(files):
            yield Path(dirpath) / name


def scan_directory(root: str | Path, truth: Truth | None = None, skip: Iterable[Path] = ()) -> list[Source]:
    """Every file under ``root`` (task logs, service logs, …), by file; SQLite files in it as
    :func:`scan_sqlite` (their siblings go with them). ``skip``: files not to scan (the manifest itself)."""
    root = Path(root)
    skipped = {p.resolve() for p in skip}
    files = Source(f"dir:{root}")
    sources = [files]
    for path in _walk(root):
        if path.resolve() in skipped or path.is_symlink():
            continue
        if any(path.name.endswith(s) and Path(str(path)[:-len(s)]).exists() and _is_sqlite(Path(str(path)[:-len(s)]))
               for s in SQLITE_SIBLINGS):
            continue  # scanned with its database
        if _is_sqlite(path):
            sources.append(scan_sqlite(path, truth, label=f"sqlite:{path.relative_to(root)}"))
            continue
        found = scan_bytes(_read(path), truth)
        if found.total:
            files.place(str(path.relative_to(root))).merge(found)
    return sources


def _is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def scan(*, sqlite: Iterable[str | Path] = (), postgres: Iterable[str] = (), directories: Iterable[str | Path] = (),
         manifest: str | Path | None = None) -> list[Source]:
    """The whole audit: every source given, against the manifest's personal data when one is given."""
    truth = read_manifest_truth(manifest) if manifest else None
    skip = [Path(manifest)] if manifest else []
    sources: list[Source] = []
    for path in sqlite:
        sources.append(scan_sqlite(path, truth))
    for url in postgres:
        sources.append(scan_postgres(url, truth))
    for root in directories:
        sources.extend(scan_directory(root, truth, skip))
    return sources


KIND_LABELS = {"id": "身份证号（校验通过）", "manifest_id": "清单中的身份证号", "name": "自然人当事人姓名",
               "legal_rep": "法定代表人姓名"}


def report_text(sources: list[Source]) -> str:
    """The report a person reads: per source, per place, counts by kind and masked samples."""
    lines = []
    for src in sources:
        lines.append(f"{src.label}：{'未发现明文个人信息' if not src.total else f'发现{src.total}处'}")
        for name, place in sorted(src.places.items()):
            if not place.total:
                continue
            counts = "，".join(f"{KIND_LABELS.get(k, k)}{n}" for k, n in sorted(place.counts.items()))
            lines.append(f"  {name}：{counts}（示例：{'、'.join(place.samples)}）")
        lines.extend(f"  注意：{note}" for note in src.notes)
    total = sum(s.total for s in sources)
    lines.append(f"合计：{total}处" + ("" if total else "，未发现明文身份证号或自然人姓名"))
    return "\n".join(lines)
