"""The integrity endpoint's audit log written in batches (``AuditWriter``): every check is logged — who, when,
what, the answer, masked — none is lost at a normal shutdown or while the database is briefly away, and the
answers are the same as with the log written in the reads' own transaction."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import sqlalchemy as sa
from creditflow.common import contains_unmasked_id
from creditflow.core import warehouse as wh
from creditflow.credit import integrity

CLEAN, PERSON = "91440400MA51XR7Q0X", "440402199001010014"


def _engine(db_url: str) -> sa.Engine:
    engine = wh.engine_from_url(db_url)
    wh.upgrade(engine)
    return engine


def _log(engine: sa.Engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(wh.credit_check_log).order_by(wh.credit_check_log.c.id))
                .mappings()]


def test_batched_audit_rows_match_the_answers_and_are_masked(db_url):
    engine = _engine(db_url)
    writer = integrity.AuditWriter(engine, interval=60)  # nothing is written until close()
    try:
        answers = integrity.check(engine, [CLEAN, PERSON, "bad"], asked_by="viewer", channel="api", audit=writer)
        direct = integrity.check(engine, [CLEAN, PERSON, "bad"], asked_by="viewer", channel="cli")
        assert [a["verdict"] for a in answers] == [a["verdict"] for a in direct] == ["pass", "pass", None]
        assert writer.pending() == 3
        assert [x["channel"] for x in _log(engine)] == ["cli"] * 3  # the direct ones, in the reads' transaction
    finally:
        writer.close()
    api = [x for x in _log(engine) if x["channel"] == "api"]
    assert [x["query"] for x in api] == [CLEAN, "4404**********0014", "BAD"]
    assert [x["verdict"] for x in api] == ["pass", "pass", None] and {x["asked_by"] for x in api} == {"viewer"}
    assert all(x["at"] for x in api) and not any(contains_unmasked_id(x["answer"] + x["query"]) for x in api)
    assert writer.pending() == 0 and writer.written == 3


def test_rows_wait_while_the_database_is_away_and_are_written_when_it_is_back(db_url):
    engine = _engine(db_url)
    writer = integrity.AuditWriter(engine, interval=60)
    writer.close()  # the thread stops; flush() is driven by hand below
    rows = [integrity._log_row({"code": CLEAN, "valid": True, "verdict": "pass"}, asked_by="u", channel="api",
                               purpose="bidding")]
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE cf_credit_check_log RENAME TO cf_credit_check_log_away"))
    writer._rows.extend(rows * 2)
    assert writer.flush() is False and writer.pending() == 2  # kept, oldest first
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE cf_credit_check_log_away RENAME TO cf_credit_check_log"))
    assert writer.flush() is True and writer.pending() == 0 and len(_log(engine)) == 2


def test_the_background_thread_writes_without_a_shutdown(db_url):
    engine = _engine(db_url)
    writer = integrity.AuditWriter(engine, interval=0.05)
    try:
        integrity.check(engine, [CLEAN], asked_by="viewer", channel="api", audit=writer)
        deadline = time.monotonic() + 10
        while not _log(engine) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [x["query"] for x in _log(engine)] == [CLEAN]
    finally:
        writer.close()


def test_a_normal_interpreter_exit_writes_every_queued_row(db_url):
    """A process that answered checks and then exits normally (as an API-server worker on SIGTERM) leaves
    every audit row in the database, although the writer's interval had not come round yet."""
    engine = _engine(db_url)
    script = textwrap.dedent(f"""
        import atexit
        from creditflow.core import warehouse as wh
        from creditflow.credit import integrity
        engine = wh.engine_from_url({db_url!r})
        writer = integrity.AuditWriter(engine, interval=3600)
        atexit.register(writer.close)
        for _ in range(25):
            integrity.check(engine, [{CLEAN!r}, {PERSON!r}], asked_by="viewer", channel="api", audit=writer)
        assert writer.pending() == 50
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    assert len(_log(engine)) == 50


def test_the_quick_path_of_mask_text_masks_exactly_what_the_full_path_masks(monkeypatch):
    """mask_text skips texts that cannot hold an ID number (the integrity endpoint's audit log masks every
    answer); the skip must never let one through."""
    import re

    from creditflow import common

    samples = [
        "身份证号440402199001010014，统一社会信用代码91440400MA4UABCD1N",
        "４４０４０２１９９００１０１００１４", "440402 19900101 001X 与 4404021990010100", "sfz44040219900101001x",
        "旧号码440402900101001，日期2026-05-06，文号珠应急罚〔2026〕12号", "91440400123456789X",
        '{"code": "4404**********0014", "reasons": ["无"]}', "١٢٣٤٥٦١٢٣٤٥٦٧٨٩٠", "", "440402-19900101-0014",
    ]
    quick = [common.mask_text(text) for text in samples]
    monkeypatch.setattr(common, "_MAYBE_ID", re.compile(""))  # every text down the full path
    assert quick == [common.mask_text(text) for text in samples]
    assert all(not contains_unmasked_id(text) for text in quick)
    assert quick[0] != samples[0] and quick[1] != samples[1]  # the samples do hold ID numbers


def test_an_answer_is_logged_as_mask_text_would_log_it(db_url):
    import json

    from creditflow.common import mask_text

    engine = _engine(db_url)
    answers = integrity.check(engine, [CLEAN, PERSON, "91440400123456789X", "４４０４０２１９９００１０１００１４"],
                              asked_by="viewer", channel="cli")
    answers.append({"code": "x", "valid": True, "verdict": "pass", "reasons": ["申请人440402199001010014", 7],
                    "nested": {"身份证440402199001010014": [None, 1.5, True]}})
    for ans in answers:
        row = integrity._log_row(ans, asked_by="viewer", channel="api", purpose="bidding")
        assert row["answer"] == mask_text(json.dumps(ans, ensure_ascii=False))
        assert not contains_unmasked_id(row["answer"])
        assert row["query"] == ans["code"]  # as the answer shows it: an organisation's code in full, an ID masked
    # a number as long as an ID number is masked too (as a string: the row stays JSON)
    row = integrity._log_row({"code": "x", "valid": True, "verdict": None, "n": 440402199001010014},
                             asked_by="viewer", channel="api", purpose="bidding")
    assert json.loads(row["answer"])["n"] == "4404**********0014"
