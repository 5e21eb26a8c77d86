"""One place for the files creditflow keeps: a folder on this machine, or S3-compatible object storage.

Workers on other hosts share no folder, so the district inbox, the data-quality reports, the monthly
reports, notices and plans are read and written through a :class:`Storage`: an `fsspec
<https://filesystem-spec.readthedocs.io/>`_ filesystem plus a root. Any fsspec URL works —
``/srv/creditflow/var/plans`` or ``file:///…`` (the demo), ``s3://bucket/prefix`` (production, MinIO and
other S3-compatible stores; needs ``s3fs``), ``memory://…`` (tests). Airflow code builds the filesystem
from the ``creditflow_storage`` connection (``creditflow_airflow.hooks.storage``); this module has no Airflow import.

Keys are relative, ``/``-separated names under the root (``penalty/440402_香洲区_20261102.csv``); a key
that climbs out of the root (``..``, an absolute path, a symlink out of a local root) is refused with
:class:`ValueError`, so a key taken from a URL cannot reach other files.

Document libraries (openpyxl, the PDF writer, Great Expectations) want local paths: render into a
temporary folder and :meth:`Storage.put_dir` it; read with :meth:`Storage.get_local`. On a local root
both are the real files (no copy), and every write is atomic (temporary name, then rename), so a reader
never sees half a file — on object storage an upload is atomic by itself.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import posixpath
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

__all__ = ["Entry", "Storage", "as_storage"]

# Where the filesystems put a file's modification time in their listings (local, S3, Azure, GCS, …).
_MTIME_KEYS = ("mtime", "LastModified", "last_modified", "updated", "modified")


@dataclass(frozen=True)
class Entry:
    """A file under a storage root: its key, size and modification (arrival) time, aware UTC."""

    key: str
    size: int
    modified: dt.datetime

    @property
    def name(self) -> str:
        return posixpath.basename(self.key)


def _clean_key(key: str | Path) -> str:
    """A relative key, normalised; ``""`` is the root. Refuses anything that leaves the root."""
    text = str(key)
    if "\\" in text or "\x00" in text:
        raise ValueError(f"invalid storage key: {text!r}")
    if text.startswith("/") or "://" in text:
        raise ValueError(f"storage key must be relative: {text!r}")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ValueError(f"storage key leaves the root: {text!r}")
    return "/".join(parts)


def _as_datetime(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, int | float):
        moment = dt.datetime.fromtimestamp(value, dt.UTC)
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


class Storage:
    """A root in an fsspec filesystem (see the module docs)."""

    def __init__(self, fs: fsspec.AbstractFileSystem, root: str = "") -> None:
        self.fs = fs
        stripped = fs._strip_protocol(str(root)) if root else ""
        self.root = str(stripped).rstrip("/") if str(stripped) not in ("/", "") else str(stripped)

    # --- construction ---------------------------------------------------------------------------------

    @classmethod
    def from_url(cls, url: str | Path, **storage_options: Any) -> Storage:
        """A storage for an fsspec URL or a local path (``storage_options`` go to the filesystem)."""
        if isinstance(url, Path) or "://" not in str(url):
            return cls.local(url)
        fs, root = fsspec.core.url_to_fs(str(url), **storage_options)
        return cls(fs, root)

    @classmethod
    def local(cls, directory: str | Path) -> Storage:
        """A folder on this machine (need not exist yet)."""
        return cls(LocalFileSystem(), str(Path(directory).expanduser().absolute()))

    def child(self, *parts: str) -> Storage:
        """The storage rooted at a folder under this one."""
        key = _clean_key("/".join(parts))
        return Storage(self.fs, self._path(key)) if key else self

    @property
    def parent(self) -> Storage:
        return Storage(self.fs, posixpath.dirname(self.root) or self.root)

    @property
    def name(self) -> str:
        return posixpath.basename(self.root)

    # --- where things are -----------------------------------------------------------------------------

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    @property
    def url(self) -> str:
        return self.url_of("")

    def url_of(self, key: str = "") -> str:
        """The fsspec URL of a key (``file:///…``, ``s3://bucket/…``, ``memory://…``)."""
        return str(self.fs.unstrip_protocol(self._path(key)))

    def local_path(self, key: str = "") -> Path | None:
        """The file's path on this machine, or None when the storage is not a local folder."""
        return Path(self._path(key)) if self.is_local else None

    def location(self, key: str = "") -> str:
        """What logs and records show: the local path on a local root, else the URL."""
        local = self.local_path(key)
        return str(local) if local is not None else self.url_of(key)

    def key_of(self, location: str) -> str:
        """The key of a location this storage handed out (:meth:`location` or :meth:`url_of`)."""
        path = str(self.fs._strip_protocol(location))
        prefix = self.root.rstrip("/") + "/"
        if not path.startswith(prefix):
            raise ValueError(f"{location!r} is not under {self.url}")
        return _clean_key(path[len(prefix):])

    def _path(self, key: str | Path = "") -> str:
        k = _clean_key(key)
        if not k:
            return self.root
        path = f"{self.root.rstrip('/')}/{k}" if self.root else k
        if self.is_local:  # a symlink must not lead out of a local root either
            real_root = os.path.realpath(self.root)
            real = os.path.realpath(path)
            if real != real_root and not real.startswith(real_root.rstrip("/") + "/"):
                raise ValueError(f"storage key leaves the root: {str(key)!r}")
        return path

    def __repr__(self) -> str:
        return f"Storage({self.url!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Storage) and self.url == other.url

    def __hash__(self) -> int:
        return hash(self.url)

    # --- reading --------------------------------------------------------------------------------------

    def exists(self, key: str = "") -> bool:
        return bool(self.fs.exists(self._path(key)))

    def isfile(self, key: str) -> bool:
        return bool(self.fs.isfile(self._path(key)))

    def isdir(self, key: str = "") -> bool:
        return bool(self.fs.isdir(self._path(key)))

    def open(self, key: str, mode: str = "rb") -> IO[Any]:
        if any(m in mode for m in "wax+"):
            self._parent_dirs(key)
        return self.fs.open(self._path(key), mode)  # type: ignore[no-any-return]

    def read_bytes(self, key: str) -> bytes:
        return bytes(self.fs.cat_file(self._path(key)))

    def read_text(self, key: str, encoding: str = "utf-8") -> str:
        return self.read_bytes(key).decode(encoding)

    def _modified(self, info: dict[str, Any]) -> dt.datetime:
        for name in _MTIME_KEYS:
            moment = _as_datetime(info.get(name))
            if moment is not None:
                return moment
        with contextlib.suppress(NotImplementedError, OSError, KeyError, AttributeError):
            moment = _as_datetime(self.fs.modified(info["name"]))
            if moment is not None:
                return moment
        moment = _as_datetime(info.get("created"))
        if moment is None:
            raise OSError(f"{type(self.fs).__name__} reports no modification time for {info.get('name')}")
        return moment

    def modified(self, key: str) -> dt.datetime:
        return self._modified(self.fs.info(self._path(key)))

    def list_files(self, prefix: str = "", recursive: bool = False) -> list[Entry]:
        """Files under ``prefix`` (directly, or at any depth), sorted by key; none when it does not exist.
        Other I/O errors (the share or the bucket is unreachable) propagate as :class:`OSError`."""
        base = self._path(prefix)
        with contextlib.suppress(Exception):
            self.fs.invalidate_cache(base)  # a listing must see what another worker just wrote
        try:
            if recursive:
                found = self.fs.find(base, detail=True, withdirs=False)
                infos = list(found.values()) if isinstance(found, dict) else []
            else:
                infos = [i for i in self.fs.ls(base, detail=True) if isinstance(i, dict)]
        except FileNotFoundError:
            return []
        root = self.root.rstrip("/") + "/" if self.root else ""
        out = []
        for info in infos:
            if info.get("type", "file") != "file":
                continue
            name = str(self.fs._strip_protocol(info["name"]))
            if not name.startswith(root):
                continue
            out.append(Entry(name[len(root):], int(info.get("size") or 0), self._modified(info)))
        return sorted(out, key=lambda e: e.key)

    def dirs(self, prefix: str = "") -> list[str]:
        """Names of the folders directly under ``prefix`` (object stores: the common prefixes)."""
        base = self._path(prefix)
        try:
            infos = self.fs.ls(base, detail=True)
        except FileNotFoundError:
            return []
        return sorted(posixpath.basename(str(self.fs._strip_protocol(i["name"])).rstrip("/"))
                      for i in infos if isinstance(i, dict) and i.get("type") == "directory")

    @contextlib.contextmanager
    def get_local(self, key: str) -> Iterator[Path]:
        """A local path to the file, for libraries that want one: the file itself on a local root, else a
        temporary copy with the same name (removed afterwards). Read-only use."""
        local = self.local_path(key)
        if local is not None:
            yield local
            return
        with tempfile.TemporaryDirectory(prefix="creditflow-get-") as tmp:
            target = Path(tmp) / posixpath.basename(_clean_key(key))
            self.fs.get_file(self._path(key), str(target))
            yield target

    @contextlib.contextmanager
    def get_local_dir(self, prefix: str = "") -> Iterator[Path]:
        """A local folder with everything under ``prefix`` (the folder itself on a local root)."""
        local = self.local_path(prefix)
        if local is not None:
            yield local
            return
        with tempfile.TemporaryDirectory(prefix="creditflow-get-") as tmp:
            for entry in self.list_files(prefix, recursive=True):
                rel = entry.key[len(_clean_key(prefix)):].lstrip("/")
                target = Path(tmp) / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(self._path(entry.key), str(target))
            yield Path(tmp)

    # --- writing --------------------------------------------------------------------------------------

    def _parent_dirs(self, key: str) -> None:
        if self.is_local:  # object stores have no folders; local folders are made on demand
            os.makedirs(posixpath.dirname(self._path(key)) or "/", exist_ok=True)

    def write_bytes(self, key: str, data: bytes) -> str:
        """Write a file (atomically on a local root); returns its location."""
        path = self._path(key)
        self._parent_dirs(key)
        if self.is_local:
            tmp = posixpath.join(posixpath.dirname(path), f".{posixpath.basename(path)}.{uuid.uuid4().hex[:8]}.tmp")
            try:
                with open(tmp, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
        else:
            self.fs.pipe_file(path, data)
        return self.location(key)

    def write_text(self, key: str, text: str, encoding: str = "utf-8") -> str:
        return self.write_bytes(key, text.encode(encoding))

    def put_file(self, local: str | Path, key: str) -> str:
        """Publish a local file under ``key`` (atomically on a local root); returns its location."""
        path = self._path(key)
        self._parent_dirs(key)
        if self.is_local:
            tmp = posixpath.join(posixpath.dirname(path), f".{posixpath.basename(path)}.{uuid.uuid4().hex[:8]}.tmp")
            try:
                shutil.copyfile(local, tmp)
                os.replace(tmp, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
        else:
            self.fs.put_file(str(local), path)
        return self.location(key)

    def put_dir(self, local_dir: str | Path, prefix: str = "") -> dict[str, str]:
        """Publish a locally rendered folder under ``prefix``: relative path → location, one file at a time."""
        base = Path(local_dir)
        out = {}
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            rel = path.relative_to(base).as_posix()
            key = f"{_clean_key(prefix)}/{rel}" if _clean_key(prefix) else rel
            out[rel] = self.put_file(path, key)
        return out

    def move(self, src: str, dst: str) -> str:
        """Move a file within the storage (the modification time stays on a local root); returns the new location."""
        self._parent_dirs(dst)
        self.fs.mv(self._path(src), self._path(dst))
        return self.location(dst)

    def copy(self, src: str, dst: str) -> str:
        self._parent_dirs(dst)
        self.fs.copy(self._path(src), self._path(dst))
        return self.location(dst)

    def delete(self, key: str, missing_ok: bool = True) -> None:
        try:
            self.fs.rm_file(self._path(key))
        except FileNotFoundError:
            if not missing_ok:
                raise


def as_storage(where: Storage | str | Path) -> Storage:
    """A :class:`Storage` for what callers pass: a storage, a local path, or an fsspec URL."""
    return where if isinstance(where, Storage) else Storage.from_url(where)
