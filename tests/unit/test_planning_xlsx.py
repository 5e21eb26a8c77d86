"""The plan's XLSX writer: readable by openpyxl, text kept exactly (escaping, spaces), IDs masked,
bytes fixed by content."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from creditflow.planning.xlsxpkg import Workbook, column_letter
from openpyxl import load_workbook


def test_round_trip(tmp_path: Path) -> None:
    rows = [["名称", "数值", "说明"], ["A&B <公司>", 3, ' 前后空格 "引号" '], ["控制\x01字符", 2.5, None],
            [*range(30)]]
    wb = Workbook("标题", stamp=dt.datetime(2026, 1, 1))
    wb.add_sheet("计划表", rows, [20, 10, 30])
    wb.add_sheet("第二页", [["x"]])
    path = wb.save(tmp_path / "a.xlsx")
    book = load_workbook(path, read_only=True)
    assert book.sheetnames == ["计划表", "第二页"]
    got = [list(r) for r in book["计划表"].iter_rows(values_only=True)]
    assert got[0][:3] == ["名称", "数值", "说明"]
    assert got[1][:3] == ["A&B <公司>", 3, ' 前后空格 "引号" ']
    assert got[2][:2] == ["控制字符", 2.5] and all(v is None for v in got[2][2:])  # XML-illegal chars dropped
    assert got[3] == list(range(30))
    again = Workbook("标题", stamp=dt.datetime(2026, 1, 1))
    again.add_sheet("计划表", rows, [20, 10, 30])
    again.add_sheet("第二页", [["x"]])
    assert again.save(tmp_path / "b.xlsx").read_bytes() == path.read_bytes()


def test_column_letters() -> None:
    assert [column_letter(n) for n in (1, 26, 27, 52, 703)] == ["A", "Z", "AA", "AZ", "AAA"]


def test_plan_sheet_masks_resident_ids(tmp_path: Path) -> None:
    from creditflow.planning import xlsx

    wb = Workbook()
    xlsx._sheet(wb, "未安排", [["张三经营部 身份证440402199001010014", "x"]])
    wb.save(tmp_path / "m.xlsx")
    cells = [c for r in load_workbook(tmp_path / "m.xlsx", read_only=True)["未安排"].iter_rows(values_only=True)
             for c in r if c]
    assert any("4404**********0014" in str(c) for c in cells)
    assert not any("440402199001010014" in str(c) for c in cells)


def test_plan_json_masks_resident_ids(tmp_path: Path, monkeypatch) -> None:
    """plan.json (the key list, the draw, what was left unscheduled) is read by people and next year's diff."""
    from types import SimpleNamespace

    from creditflow.planning import pdf, store
    from creditflow.planning import xlsx as xlsx_mod

    monkeypatch.setattr(store, "plan_document", lambda plan: {"key_list": [{"name": "张三经营部 440402199001010014"}]})
    monkeypatch.setattr(xlsx_mod, "write_xlsx", lambda plan, p: p.write_bytes(b"x"))
    monkeypatch.setattr(pdf, "write_pdf", lambda plan, p: p.write_bytes(b"x"))
    paths = store.save_plan(SimpleNamespace(year=2026), tmp_path)
    text = paths["json"].read_text(encoding="utf-8")
    assert "4404**********0014" in text and "440402199001010014" not in text
