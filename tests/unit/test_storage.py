"""The storage abstraction on a local folder (file://) and on fsspec's memory:// filesystem: the same
behaviour on both, so nothing that uses it assumes one local disk."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path

import pytest
from creditflow.core.storage import Storage, as_storage


@pytest.fixture(params=["file", "memory"])
def store(request, tmp_path) -> Storage:
    if request.param == "file":
        return Storage.from_url(f"file://{tmp_path / 'root'}")
    return Storage.from_url(f"memory://cf-test-{uuid.uuid4().hex[:8]}/root")


def _set_modified(store: Storage, key: str, when: dt.datetime) -> None:
    local = store.local_path(key)
    if local is not None:
        os.utime(local, (when.timestamp(), when.timestamp()))
    else:
        store.fs.store[store._path(key)].modified = when


def test_write_read_exists(store):
    assert not store.exists() and store.list_files() == []
    assert store.write_bytes("a/b/c.bin", b"\x00\x01") == store.location("a/b/c.bin")
    store.write_text("a/说明.txt", "中文")
    assert store.read_bytes("a/b/c.bin") == b"\x00\x01" and store.read_text("a/说明.txt") == "中文"
    assert store.exists() and store.exists("a/b") and store.isdir("a/b") and store.isfile("a/b/c.bin")
    assert not store.exists("a/nope.txt") and not store.isfile("a/b")
    with store.open("a/new.txt", "wb") as fh:
        fh.write(b"x")
    with store.open("a/new.txt") as fh:
        assert fh.read() == b"x"
    with pytest.raises(FileNotFoundError):
        store.read_bytes("a/nope.txt")


def test_listing_has_modification_times_and_only_files(store):
    when = dt.datetime(2026, 11, 3, 5, 59, tzinfo=dt.UTC)
    store.write_bytes("in/penalty/2.csv", b"22")
    store.write_bytes("in/penalty/1.csv", b"1")
    store.write_bytes("in/penalty/deeper/3.csv", b"333")
    _set_modified(store, "in/penalty/1.csv", when)
    entries = store.list_files("in/penalty")
    assert [(e.key, e.name, e.size) for e in entries] == [("in/penalty/1.csv", "1.csv", 1),
                                                         ("in/penalty/2.csv", "2.csv", 2)]
    assert entries[0].modified == when and entries[0].modified.tzinfo is not None
    assert store.modified("in/penalty/1.csv") == when
    assert entries[1].modified > when
    assert [e.key for e in store.list_files("in", recursive=True)] == [
        "in/penalty/1.csv", "in/penalty/2.csv", "in/penalty/deeper/3.csv"]
    assert store.list_files("in/missing") == [] and store.dirs("in/penalty") == ["deeper"]
    assert store.dirs() == ["in"] and store.dirs("missing") == []


def test_move_copy_delete(store):
    store.write_bytes("inbox/penalty/f.csv", b"data")
    when = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
    _set_modified(store, "inbox/penalty/f.csv", when)
    assert store.move("inbox/penalty/f.csv", "inbox/archive/penalty/2026-11-02/f.csv") == \
        store.location("inbox/archive/penalty/2026-11-02/f.csv")
    assert not store.exists("inbox/penalty/f.csv")
    assert store.read_bytes("inbox/archive/penalty/2026-11-02/f.csv") == b"data"
    if store.is_local:  # a local move keeps the arrival time (an object store's copy is a new object)
        assert store.modified("inbox/archive/penalty/2026-11-02/f.csv") == when
    store.copy("inbox/archive/penalty/2026-11-02/f.csv", "copy/f.csv")
    assert store.read_bytes("copy/f.csv") == b"data"
    store.delete("copy/f.csv")
    assert not store.exists("copy/f.csv")
    store.delete("copy/f.csv")  # missing_ok
    with pytest.raises(FileNotFoundError):
        store.delete("copy/f.csv", missing_ok=False)


def test_put_dir_publishes_a_rendered_folder(store, tmp_path):
    rendered = tmp_path / "rendered"
    (rendered / "sub").mkdir(parents=True)
    (rendered / "report.pdf").write_bytes(b"%PDF")
    (rendered / "sub" / "data.csv").write_text("a,b\n", encoding="utf-8")
    published = store.put_dir(rendered, "reports/2026-11")
    assert published == {"report.pdf": store.location("reports/2026-11/report.pdf"),
                         "sub/data.csv": store.location("reports/2026-11/sub/data.csv")}
    assert store.read_bytes("reports/2026-11/report.pdf") == b"%PDF"
    # No temporary file is left behind (a local write goes to a hidden name, then is renamed).
    assert [e.key for e in store.list_files("reports", recursive=True)] == [
        "reports/2026-11/report.pdf", "reports/2026-11/sub/data.csv"]
    with store.get_local_dir("reports/2026-11") as local:
        assert (local / "sub" / "data.csv").read_text(encoding="utf-8") == "a,b\n"


def test_get_local_is_the_file_itself_on_a_local_root_else_a_temporary_copy(store):
    store.write_bytes("x/数据.xlsx", b"PK")
    with store.get_local("x/数据.xlsx") as path:
        assert path.name == "数据.xlsx" and path.read_bytes() == b"PK"
        if store.is_local:
            assert path == store.local_path("x/数据.xlsx")
        else:
            assert store.local_path("x/数据.xlsx") is None
    assert path.exists() == store.is_local  # the temporary copy is gone


def test_urls_locations_and_children(store):
    child = store.child("plans", "2026")
    assert child.url == store.url_of("plans/2026") and child.name == "2026"
    assert child.parent.child("2025") == store.child("plans/2025")
    child.write_text("plan.json", "{}")
    assert store.read_text("plans/2026/plan.json") == "{}"
    assert store.key_of(child.url_of("plan.json")) == "plans/2026/plan.json"
    assert store.key_of(child.location("plan.json")) == "plans/2026/plan.json"
    assert store.url.startswith("file:///" if store.is_local else "memory://")
    assert store.location("a") == (str(Path(store.root) / "a") if store.is_local else store.url_of("a"))
    assert as_storage(store) is store
    assert store.child() is store
    with pytest.raises(ValueError):
        store.key_of("memory:///elsewhere/x")


@pytest.mark.parametrize("key", ["../x", "a/../../x", "/etc/passwd", "a\\..\\b", "s3://other/x", "a/\x00"])
def test_keys_never_leave_the_root(store, key):
    with pytest.raises(ValueError):
        store.read_bytes(key)
    with pytest.raises(ValueError):
        store.write_bytes(key, b"x")


def test_a_symlink_out_of_a_local_root_is_refused(tmp_path):
    store = Storage.local(tmp_path / "root")
    store.write_text("ok.txt", "ok")
    (tmp_path / "secret.txt").write_text("secret", encoding="utf-8")
    (tmp_path / "root" / "link.txt").symlink_to(tmp_path / "secret.txt")
    (tmp_path / "root" / "dir").symlink_to(tmp_path)
    with pytest.raises(ValueError):
        store.read_bytes("link.txt")
    with pytest.raises(ValueError):
        store.read_bytes("dir/secret.txt")
    assert store.read_text("ok.txt") == "ok"


def test_from_url_takes_paths_and_urls(tmp_path):
    assert Storage.from_url(tmp_path).local_path() == tmp_path
    assert Storage.from_url(str(tmp_path)).url == f"file://{tmp_path}"
    assert Storage.from_url(f"file://{tmp_path}") == Storage.local(tmp_path)
    mem = Storage.from_url("memory://bucket/prefix")
    assert not mem.is_local and mem.url == "memory:///bucket/prefix"
