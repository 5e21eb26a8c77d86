"""District spreadsheets: one file per (district, arrival day) in ``<inbox>/penalty/``, whose modification
time is its arrival time — a working-hours moment on the arrival day, local time — which is what the
pipeline's inbox step goes by. :func:`release_files` moves files from a drop folder into the inbox once
their arrival time has come (a demo or test that walks the days)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import random
import shutil
from pathlib import Path
from typing import Any

from creditflow.common import TZ

#: District files carry penalty decisions only; the folder is the kind's (``<inbox>/<kind>/``).
DISTRICT_KIND = "penalty"


def arrival_time(seed: int, district: str, day: str) -> dt.datetime:
    """When a district's file for ``day`` arrives: between 09:00 and 17:59 local, the same for every run
    with this seed (its own RNG, so arrival times change no decision)."""
    rng = random.Random(f"{seed}|{district}|{day}")
    d = dt.date.fromisoformat(day)
    return dt.datetime(d.year, d.month, d.day, 9 + rng.randrange(0, 9), rng.randrange(0, 60), tzinfo=TZ)


def set_arrival(path: Path, when: dt.datetime) -> None:
    stamp = when.timestamp()
    os.utime(path, (stamp, stamp))


class DistrictWriter:
    """Formats rotate: xlsx (Chinese headers), csv UTF-8 with BOM (code headers), csv GB18030 (Chinese
    headers with half-width brackets). With ``corrupt_share``, that share of the files is overwritten
    with bytes no reader accepts (keeping its arrival time)."""

    def __init__(self, inbox: Path, rng: random.Random, corrupt_share: float, seed: int = 0):
        self.folder = inbox / DISTRICT_KIND
        self.folder.mkdir(parents=True, exist_ok=True)
        self.rng = rng
        self.seed = seed
        self.corrupt_share = corrupt_share
        self.rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.files: list[str] = []
        self.arrivals: dict[str, dt.datetime] = {}

    def add(self, district: dict[str, Any], day: dt.date, std: dict[str, Any]) -> None:
        self.rows.setdefault((district["code"] + "_" + district["name"], day.isoformat()), []).append(std)

    def flush(self, before: str | None = None) -> list[str]:
        """Write the files of arrival days before ``before`` (all when None) and forget their rows."""
        from creditflow.core import standard

        fields = standard.fields("penalty")
        written: list[str] = []
        ready = sorted(k for k in self.rows if before is None or k[1] < before)
        for (district, day) in ready:
            rows = self.rows.pop((district, day))
            n = len(self.files) + len(written)
            stem = f"{district}_{day.replace('-', '')}_{n:04d}"
            fmt = n % 3
            if fmt == 0:
                from openpyxl import Workbook

                wb = Workbook(write_only=True)
                ws = wb.create_sheet("双公示-行政处罚")
                ws.append([f.name_zh for f in fields])
                for r in rows:
                    ws.append([r.get(f.code) for f in fields])
                path = self.folder / f"{stem}.xlsx"
                wb.save(path)
            else:
                buf = io.StringIO()
                w = csv.writer(buf)
                w.writerow([f.code for f in fields] if fmt == 1 else
                           [f.name_zh.replace("（", "(").replace("）", ")") for f in fields])
                for r in rows:
                    w.writerow(["" if r.get(f.code) is None else r.get(f.code) for f in fields])
                path = self.folder / f"{stem}.csv"
                path.write_bytes(buf.getvalue().encode("utf-8-sig" if fmt == 1 else "gb18030"))
            self.arrivals[path.name] = arrival_time(self.seed, district, day)
            set_arrival(path, self.arrivals[path.name])
            written.append(path.name)
        if self.corrupt_share and before is None and (self.files or written):
            pool = [*self.files, *written]
            k = max(1, int(len(pool) * self.corrupt_share))
            for name in self.rng.sample(pool, k):
                (self.folder / name).write_bytes(b"PK\x03\x04 this is not a spreadsheet")
                set_arrival(self.folder / name, self.arrivals[name])
        self.files.extend(written)
        return written


def release_files(drop: str | Path, inbox: str | Path, before: dt.datetime) -> list[Path]:
    """Move the files in ``<drop>/<kind>/`` that arrived (modification time) before ``before`` — an aware
    datetime — to ``<inbox>/<kind>/``, keeping their arrival time; returns the new paths."""
    drop, inbox = Path(drop), Path(inbox)
    limit = before.timestamp()
    moved: list[Path] = []
    if not drop.is_dir():
        return moved
    for folder in sorted(p for p in drop.iterdir() if p.is_dir()):
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            stamp = path.stat().st_mtime
            if stamp >= limit:
                continue
            target = inbox / folder.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), target)
            os.utime(target, (stamp, stamp))
            moved.append(target)
    return moved
