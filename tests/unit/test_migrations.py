"""The warehouse schema moves only through its Alembic revisions, and no upgrade loses a ledger row.

Runs on SQLite locally and on a fresh PostgreSQL schema (search_path in the URL) when
CREDITFLOW_TEST_DATABASE_URL is set, as in CI.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from creditflow import cli
from creditflow.core import migrations
from creditflow.core import warehouse as wh
from creditflow.reporting import review

# What revisions after the baseline added to the model; the schema create_all built before migrations
# (commit 5f4b531) is the model without these. A revision that changes the tables adds its changes here.
ADDED_AFTER_BASELINE = {"ix_staging_record", "ix_std_record",
                        # revision 0010 (creditflow.credit): whole tables, with their indexes
                        *(t.name for t in wh.CREDIT_TABLES),
                        # revision 0011 added cf_report_snapshot, revision 0016 dropped it
                        # revision 0016 (creditflow.feedback): the ledger history's read by time
                        "ix_ledger_history_at",
                        # revision 0012 (creditflow.feedback): the ledger history's look-ups by key and by run
                        "ix_ledger_history_key", "ix_ledger_history_run",
                        # revision 0013: the waiting records' look-up by record id and kind (replaces 0002's)
                        "ix_staging_record_kind",
                        # revision 0014: cf_run_summary keeps every reconciliation (see RESHAPED)
                        "ix_run_summary_run",
                        # revision 0017 (creditflow.credit.clients): the machine clients of 诚信审核
                        "cf_api_client"}
# Tables a revision rebuilt with another primary key: their columns before it, and that key.
RESHAPED = {"cf_run_summary": ({"id"}, ("run_key", "kind"))}
# Columns a revision added to a table (revision 0015: what the ledger's message prefixes carried).
ADDED_COLUMNS = {"cf_ledger": {"origin", "replaces_record_id", "reason", "op_day"}, "cf_outcome": {"decided_at"}}  # 0020
NOW = "2026-11-04T09:00:00+00:00"


def legacy_metadata(old_party_index: bool = False) -> sa.MetaData:
    """The model as the old ``create_all`` knew it; ``old_party_index``: as before commit 58b2cbb."""
    md = sa.MetaData()
    for table in wh.metadata.sorted_tables:
        if table.name not in ADDED_AFTER_BASELINE:
            table.to_metadata(md)
    for table in md.tables.values():
        for ix in list(table.indexes):
            if ix.name in ADDED_AFTER_BASELINE or (old_party_index and ix.name == "ix_ledger_party"):
                table.indexes.discard(ix)
    for name, (added, key) in RESHAPED.items():
        table = md.tables[name]
        md.remove(table)
        sa.Table(name, md, *[sa.Column(c.name, c.type, primary_key=c.name in key, nullable=c.nullable)
                             for c in table.columns if c.name not in added])
    for name, added in ADDED_COLUMNS.items():
        table = md.tables[name]
        md.remove(table)
        indexes = [(ix.name, [c.name for c in ix.columns]) for ix in table.indexes]
        new = sa.Table(name, md, *[sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                                   for c in table.columns if c.name not in added])
        for ix_name, cols in indexes:
            sa.Index(ix_name, *[new.c[c] for c in cols])
    if old_party_index:
        ledger = md.tables["cf_ledger"]
        sa.Index("ix_ledger_party", ledger.c.kind, ledger.c.party_key)
    return md


def shape(engine: sa.Engine) -> dict:
    """Everything about the tables a migration could get wrong, in a form comparable across builds."""
    with engine.connect() as conn:
        insp = sa.inspect(conn)
        out = {}
        for t in sorted(set(insp.get_table_names()) - {migrations.VERSION_TABLE}):
            out[t] = {
                "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(t)],
                "pk": insp.get_pk_constraint(t)["constrained_columns"],
                "indexes": sorted((ix["name"], tuple(ix["column_names"]), bool(ix["unique"]))
                                  for ix in insp.get_indexes(t)),
                "uniques": sorted((u["name"], tuple(u["column_names"])) for u in insp.get_unique_constraints(t)),
            }
    return out


def fill(engine: sa.Engine) -> None:
    """A warehouse with history: ledger rows in every state, outcomes, reviews and their decisions."""
    payload = json.dumps({"CF_XK_WSH": "珠应急罚〔2026〕17号", "CF_XDR_MC": "珠海市某化工有限公司",
                          "CF_NR_FK": "罚款 50000.00 元\x1f（含税）", "note": "emoji 🧯 and tab\tand 'quotes'"},
                         ensure_ascii=False)
    ledger = [
        {"kind": "penalty", "natural_key": "珠应急罚〔2026〕17号|91440400MA4UXXXX1A", "state": "accepted",
         "platform_status": "published", "platform_version": 2, "accepted_hash": "a" * 64, "body_hash": "b" * 64,
         "op": "correct", "batch_id": "B-0001", "first_accepted_at": "2026-11-02T10:00:00+00:00"},
        {"kind": "penalty", "natural_key": "珠应急罚〔2026〕18号|91440400MA4UYYYY2B", "state": "accepted",
         "platform_status": "withdrawn", "platform_version": 3, "accepted_hash": "c" * 64, "op": "withdraw"},
        {"kind": "penalty", "natural_key": "珠应急罚〔2026〕19号|91440400MA4UZZZZ3C", "state": "pending",
         "op": "create", "pending_hash": "d" * 64, "pending_payload": payload, "idempotency_key": "k" * 64,
         "batch_key": "bk-1", "batch_seq": 0},
        {"kind": "penalty", "natural_key": "珠应急罚〔2026〕20号|自然人*0014", "state": "sent", "op": "create",
         "pending_hash": "e" * 64, "pending_payload": payload, "idempotency_key": "m" * 64, "batch_key": "bk-1",
         "batch_seq": 1, "batch_id": "B-0002"},
        {"kind": "license", "natural_key": "粤应急许〔2026〕5号|91440400MA4UWWWW4D", "state": "rejected",
         "op": "create", "code": "E1203", "message": "许可决定日期晚于数据上报日期", "batch_id": "B-0003"},
        {"kind": "coercion", "natural_key": "珠应急强〔2026〕1号|91440400MA4UVVVV5E", "state": "accepted",
         "platform_status": None, "platform_version": None, "message": None},
    ]
    old_ledger = legacy_metadata().tables["cf_ledger"]  # as the warehouse is before revision 0015
    with engine.begin() as conn:
        for i, row in enumerate(ledger):
            base = {"owner_record_id": f"case_db:{i}", "party_key": row["natural_key"].split("|")[1],
                    "doc_key": row["natural_key"].split("|")[0], "decision_date": f"2026-10-{20 + i:02d}",
                    "run_key": "sgs_penalty|2026-11-03T00:00:00+08:00", "updated_at": NOW}
            conn.execute(old_ledger.insert().values(**{**base, **row}))
            conn.execute(wh.ledger_history.insert().values(kind=row["kind"], natural_key=row["natural_key"],
                                                           record_id=f"case_db:{i}", op=row.get("op"),
                                                           state=row["state"], at=NOW))
        for i, outcome in enumerate(("uploaded", "quarantined", "awaiting_review", "unchanged", "duplicate")):
            conn.execute(wh.outcomes.insert().values(run_key="r1", record_id=f"case_db:{i}", kind="penalty",
                                                     outcome=outcome, late=i == 1, due_soon=i == 2,
                                                     duplicate_of="case_db:0" if outcome == "duplicate" else None))
        conn.execute(wh.standardised.insert().values(run_key="r1", record_id="district:7", kind="penalty",
                                                     source_system="district_file", content_hash="h7",
                                                     body_hash="b7", payload=payload))
        conn.execute(wh.reviews.insert().values(record_id="district:7", content_hash="h7", op="create",
                                                kind="penalty", reason="near_duplicate", related_record="case_db:0",
                                                levels_required="1,2", status="pending", due_date="2026-11-12",
                                                created_run_key="r1", created_at=NOW))
        conn.execute(wh.review_decisions.insert().values(record_id="district:7", content_hash="h7", op="create",
                                                         level=1, decision="approve", reviewer="李科长",
                                                         comment="核对原件无误", decided_at=NOW))
        # The table as it was before revision 0014 (the model's insert would ask PostgreSQL for an ``id``).
        conn.execute(legacy_metadata().tables["cf_run_summary"].insert().values(
            run_key="r1", kind="penalty", dag_id="sgs_penalty", interval_start="2026-11-03", interval_end="2026-11-04",
            extracted=5, uploaded=1, quarantined=1, awaiting_review=1, unchanged=1, duplicates=1, late=1, due_soon=1,
            rejected_files=0, reconciled=True, written_at=NOW))


def snapshot(engine: sa.Engine) -> dict[str, list[tuple]]:
    """Every row of every baseline table, each value with its Python type (so ``1`` never equals ``"1"``)."""
    tables = legacy_metadata().sorted_tables  # the baseline's columns, also after a revision added some
    with engine.connect() as conn:
        return {t.name: [tuple((type(v).__name__, v) for v in row)
                         for row in conn.execute(sa.select(t).order_by(*t.primary_key.columns))]
                for t in tables}


def model_diff(conn: sa.Connection) -> list:
    """What autogenerate would write to turn this database into the model: nothing, at head."""
    ctx = MigrationContext.configure(conn, opts={"compare_type": True, "version_table": migrations.VERSION_TABLE})
    return list(compare_metadata(ctx, wh.metadata))


def current(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return migrations.current(conn)


@pytest.fixture
def engine(db_url):
    e = wh.engine_from_url(db_url)
    yield e
    e.dispose()


def test_revisions_are_linear_and_head_is_the_last():
    revs = [r for r, _ in migrations.revisions()]
    assert revs[0] == migrations.BASELINE and revs[-1] == migrations.head()
    assert revs == sorted(revs) and len(set(revs)) == len(revs)
    # every revision file is on the one chain from head (no orphan or branch left out of the walk)
    files = sorted(p.name.split("_", 1)[0] for p in (migrations.SCRIPT_LOCATION / "versions").glob("[0-9]*.py"))
    assert files == revs
    assert (migrations.SCRIPT_LOCATION / "env.py").is_file()
    assert (migrations.SCRIPT_LOCATION / "script.py.mako").is_file()


def test_empty_database_gets_every_revision_and_matches_the_model(engine):
    assert wh.upgrade(engine) == (None, migrations.head())
    assert current(engine) == migrations.head()
    with engine.connect() as conn:
        diff = model_diff(conn)
        assert sa.inspect(conn).has_table(migrations.VERSION_TABLE)
        assert not sa.inspect(conn).has_table("alembic_version")  # Airflow's name stays Airflow's
    assert diff == []
    assert wh.upgrade(engine) == (migrations.head(), migrations.head())


def test_baseline_is_exactly_what_create_all_built(engine):
    legacy = legacy_metadata()
    legacy.create_all(engine)
    built_by_create_all = shape(engine)
    legacy.drop_all(engine)
    wh.upgrade(engine, migrations.BASELINE)
    assert shape(engine) == built_by_create_all
    assert set(built_by_create_all) == set(wh.metadata.tables) - ADDED_AFTER_BASELINE


def test_upgrade_from_the_previous_schema_keeps_every_ledger_row(engine):
    revs = [r for r, _ in migrations.revisions()]
    previous = revs[-2] if len(revs) > 1 else revs[-1]
    wh.upgrade(engine, previous)
    fill(engine)
    before = snapshot(engine)
    assert len(before["cf_ledger"]) == 6 and {r[10][1] for r in before["cf_ledger"]} == {
        "pending", "sent", "accepted", "rejected"}
    assert wh.upgrade(engine) == (previous, migrations.head())
    after = snapshot(engine)
    assert after["cf_ledger"] == before["cf_ledger"]
    assert after == before
    queue = review.pending(engine)  # the upgraded warehouse serves the code of this release
    assert [(r["record_id"], r["next_level"]) for r in queue] == [("district:7", 2)]


def test_0014_keeps_every_reconciliation_and_then_appends(engine):
    """Revision 0014: ``cf_run_summary`` from one row per run to one row per reconciliation — every row
    kept (numbered in the order written), and a re-run's reconciliation is added beside the original."""
    from creditflow.reporting.pipeline.common import Run
    from creditflow.reporting.pipeline.reconcile import reconcile

    wh.upgrade(engine, "0013")
    old = sa.Table("cf_run_summary", sa.MetaData(), autoload_with=engine)
    assert [c.name for c in old.primary_key.columns] == ["run_key", "kind"]
    counts = {"extracted": 0, "uploaded": 0, "quarantined": 0, "awaiting_review": 0, "unchanged": 0,
              "duplicates": 0, "late": 0, "due_soon": 0, "rejected_files": 0}
    rows = [{"run_key": f"sgs_penalty|2026-12-0{d}", "kind": kind, "dag_id": f"sgs_{kind}",
             "interval_start": f"2026-12-0{d}T00:00:00+08:00", "interval_end": f"2026-12-0{d + 1}T00:00:00+08:00",
             **counts, "uploaded": 10 * d + i, "reconciled": d != 3, "written_at": f"2026-12-0{d + 1}T0{i}:10:00+00:00"}
            for d in (3, 1, 2) for i, kind in enumerate(("penalty", "license"))]
    with engine.begin() as conn:
        conn.execute(old.insert(), rows)
    assert wh.upgrade(engine) == ("0013", migrations.head())
    s = wh.run_summary
    cols = [s.c[c] for c in rows[0]]
    with engine.connect() as conn:
        after = [dict(r) for r in conn.execute(sa.select(s.c.id, *cols).order_by(s.c.id)).mappings()]
    assert sorted(({k: v for k, v in r.items() if k != "id"} for r in after),
                  key=lambda r: (r["run_key"], r["kind"])) == sorted(rows, key=lambda r: (r["run_key"], r["kind"]))
    assert [r["written_at"] for r in after] == sorted(r["written_at"] for r in rows)  # ids in written order
    # A re-run of 2026-12-01 (nothing staged now): its reconciliation is added; the original stays.
    start = dt.datetime(2026, 12, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
    reconcile(Run("sgs_penalty", "penalty", start, start + dt.timedelta(days=1)), engine)
    with engine.connect() as conn:
        mine = conn.execute(sa.select(s.c.uploaded, s.c.written_at).where(
            s.c.run_key == "sgs_penalty|2026-12-01", s.c.kind == "penalty").order_by(s.c.id)).all()
        latest = conn.execute(sa.select(s.c.run_key, s.c.kind, s.c.uploaded).where(wh.latest_summaries())).all()
    assert [u for u, _ in mine] == [10, 0] and mine[0][1] < mine[1][1]
    assert sorted(latest) == sorted([(r["run_key"], r["kind"], r["uploaded"]) for r in rows
                                     if (r["run_key"], r["kind"]) != ("sgs_penalty|2026-12-01", "penalty")]
                                    + [("sgs_penalty|2026-12-01", "penalty", 0)])


@pytest.mark.parametrize("old_party_index", [False, True], ids=["as-of-5f4b531", "before-58b2cbb"])
def test_create_all_warehouse_is_stamped_at_baseline_then_upgraded(engine, old_party_index):
    legacy_metadata(old_party_index).create_all(engine)
    fill(engine)
    before = snapshot(engine)
    with engine.connect() as conn:
        assert migrations.state(conn) == "legacy"
    assert wh.upgrade(engine) == ("legacy", migrations.head())
    assert snapshot(engine) == before
    assert current(engine) == migrations.head()
    with engine.connect() as conn:
        party = {ix["name"]: ix["column_names"] for ix in sa.inspect(conn).get_indexes("cf_ledger")}
        assert model_diff(conn) == []
    assert party["ix_ledger_party"] == ["kind", "party_key", "decision_date"]


def test_require_current_fails_until_upgraded(engine):
    with pytest.raises(migrations.SchemaError, match=r"empty.*creditflow db upgrade"):
        wh.require_current(engine)
    wh.upgrade(engine, migrations.BASELINE)
    if migrations.head() != migrations.BASELINE:
        with pytest.raises(migrations.SchemaError, match=f"at {migrations.BASELINE}"):
            wh.require_current(engine)
    wh.upgrade(engine)
    assert wh.require_current(engine) == migrations.head()


def test_create_schema_is_the_upgrade(engine):
    legacy_metadata().create_all(engine)
    fill(engine)
    before = snapshot(engine)
    wh.create_schema(engine)
    assert current(engine) == migrations.head() and snapshot(engine) == before


def test_a_warehouse_that_is_not_the_baseline_is_left_alone(engine):
    md = legacy_metadata()
    md.remove(md.tables["cf_source_file"])
    full = md.tables["cf_ledger"]
    md.remove(full)
    ledger = sa.Table("cf_ledger", md, *[sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                                         for c in full.columns if c.name != "first_accepted_at"])
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(ledger.insert().values(kind="penalty", natural_key="nk", owner_record_id="x", state="accepted",
                                            updated_at=NOW))
    with pytest.raises(migrations.SchemaError, match=r"cf_source_file.*cf_ledger\.first_accepted_at"):
        wh.upgrade(engine)
    assert current(engine) is None
    with engine.connect() as conn:
        assert not sa.inspect(conn).has_table("cf_source_file")
        assert conn.execute(sa.select(sa.func.count()).select_from(ledger)).scalar_one() == 1


def test_never_downgrades_nor_touches_a_newer_warehouse(engine):
    wh.upgrade(engine)
    if len(migrations.revisions()) > 1:
        with pytest.raises(migrations.SchemaError, match="never downgrades"):
            wh.upgrade(engine, migrations.BASELINE)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {migrations.VERSION_TABLE} SET version_num = '9999'"))
    with pytest.raises(migrations.SchemaError, match=r"9999.*does not know"):
        wh.upgrade(engine)
    with pytest.raises(ValueError, match="no revision"):
        wh.upgrade(engine, "0999")


def test_concurrent_upgrades_wait_for_each_other(db_url):
    results, errors = [], []

    def go() -> None:
        e = wh.engine_from_url(db_url)
        try:
            results.append(wh.upgrade(e))
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)
        finally:
            e.dispose()

    threads = [threading.Thread(target=go) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(r[0] or "" for r in results) == ["", migrations.head(), migrations.head()]


# --- creditflow db ----------------------------------------------------------------------------------------


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_upgrade_is_idempotent(engine, db_url, capsys, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_CREDITFLOW_DB", raising=False)
    code, out, err = run_cli(capsys, "db", "upgrade", "--db", db_url)
    assert (code, err) == (0, "") and f"empty → {migrations.head()} (head)" in out
    code, out, err = run_cli(capsys, "db", "upgrade", "--db", db_url)
    assert (code, err) == (0, "") and f"already at {migrations.head()} (head)" in out
    code, out, _ = run_cli(capsys, "db", "current", "--db", db_url)
    assert code == 0 and out.strip().endswith(f"{migrations.head()} (head)")
    code, out, _ = run_cli(capsys, "db", "history")
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == [r for r, _ in migrations.revisions()]


def test_cli_upgrades_a_create_all_warehouse_without_losing_rows(engine, db_url, capsys):
    legacy_metadata().create_all(engine)
    fill(engine)
    before = snapshot(engine)
    code, out, err = run_cli(capsys, "db", "current", "--db", db_url)
    assert code == 0 and ": legacy (" in out
    code, out, err = run_cli(capsys, "db", "upgrade", "--db", db_url)
    assert (code, err) == (0, "") and f"stamped {migrations.BASELINE} → {migrations.head()}" in out
    assert snapshot(engine) == before


def test_cli_default_is_the_creditflow_db_connection(db_url, capsys, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_CREDITFLOW_DB",
                       json.dumps({"conn_type": "generic", "extra": {"sqlalchemy_url": db_url}}))
    code, out, err = run_cli(capsys, "db", "upgrade")
    assert (code, err) == (0, "") and migrations.head() in out
    monkeypatch.delenv("AIRFLOW_CONN_CREDITFLOW_DB")
    code, out, err = run_cli(capsys, "db", "upgrade")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "AIRFLOW_CONN_CREDITFLOW_DB" in err and "--db" in err


@pytest.mark.parametrize("url, says", [
    ("not a url", "not a database URL"),
    ("nosuchdialect://host/db", "cannot open"),
    ("postgresql+psycopg2://clerk:s3cret-pw@127.0.0.1:1/creditflow", "cannot use"),
])
def test_cli_bad_url_is_one_line_and_exit_2(capsys, url, says):
    code, out, err = run_cli(capsys, "db", "upgrade", "--db", url)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and says in err
    assert "s3cret-pw" not in err


def test_cli_bad_revision_and_missing_sqlite_file_exit_2(tmp_path, capsys):
    code, _, err = run_cli(capsys, "db", "upgrade", "--db", f"sqlite:///{tmp_path}/w.sqlite", "--to", "0999")
    assert code == 2 and "no revision '0999'" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(capsys, "db", "current", "--db", f"sqlite:///{tmp_path}/none/w.sqlite")
    assert code == 2 and "no such SQLite file" in err
    assert not (tmp_path / "none").exists()
    code, _, err = run_cli(capsys, "db", "frobnicate")
    assert code == 2 and len(err.strip().splitlines()) == 1


# --- the connection as Airflow hands it to processes -------------------------------------------------------


@pytest.mark.parametrize("value, url", [
    ("postgres://airflow:p%40ss%2Fw@postgres:5432/creditflow",
     "postgresql+psycopg2://airflow:p%40ss%2Fw@postgres:5432/creditflow"),
    ("postgresql://etl@db.internal/warehouse", "postgresql+psycopg2://etl@db.internal:5432/warehouse"),
    ("generic://?sqlalchemy_url=sqlite%3A%2F%2F%2F%2Fdata%2Fcreditflow.sqlite", "sqlite:////data/creditflow.sqlite"),
    ("sqlite://%2Fdata%2Fcreditflow.sqlite", "sqlite:////data/creditflow.sqlite"),
    ('generic://?__extra__=%7B%22sqlalchemy_url%22%3A+%22sqlite%3A%2F%2F%2Fx.sqlite%22%7D', "sqlite:///x.sqlite"),
    ('{"conn_type": "generic", "extra": {"sqlalchemy_url": "sqlite:////var/cf.sqlite"}}', "sqlite:////var/cf.sqlite"),
    ('{"conn_type": "generic", "extra": "{\\"sqlalchemy_url\\": \\"sqlite:///a.sqlite\\"}"}', "sqlite:///a.sqlite"),
    ('{"conn_type": "postgres", "host": "pg", "port": 6432, "schema": "cf", "login": "u", "password": "x y"}',
     "postgresql+psycopg2://u:x%20y@pg:6432/cf"),
])
def test_airflow_connection_url(value, url):
    assert wh.airflow_connection_url("creditflow_db", {"AIRFLOW_CONN_CREDITFLOW_DB": value}) == url
    parsed = sa.engine.make_url(url)
    assert parsed.get_backend_name() in ("postgresql", "sqlite")


def test_connection_fields_are_parsed_as_airflow_does():
    from airflow.models.connection import Connection

    for uri in ("postgres://airflow:p%40ss%2Fw@postgres:5432/creditflow", "postgresql://etl@db.internal/warehouse",
                "generic://?sqlalchemy_url=sqlite%3A%2F%2F%2Fdata%2Fcf.sqlite&timeout=30",
                "sqlite://%2Fdata%2Fcf.sqlite", "http://u:pw@platform:8701/http"):
        ours = wh._parse_uri_conn(uri)
        theirs = Connection(conn_id="x", uri=uri)
        assert (ours["conn_type"], ours["host"], ours["port"], ours["schema"], ours["login"], ours["password"]) == (
            theirs.conn_type, theirs.host or None, theirs.port, theirs.schema or None, theirs.login, theirs.password)
        assert ours["extra"] == theirs.extra_dejson


def test_unusable_connection_is_a_clear_error():
    with pytest.raises(LookupError, match="AIRFLOW_CONN_CREDITFLOW_DB"):
        wh.airflow_connection_url("creditflow_db", {})
    with pytest.raises(ValueError, match="http"):
        wh.airflow_connection_url("creditflow_db", {"AIRFLOW_CONN_CREDITFLOW_DB": "http://platform:8701"})
    with pytest.raises(ValueError, match="neither"):
        wh.airflow_connection_url("creditflow_db", {"AIRFLOW_CONN_CREDITFLOW_DB": "{not json"})


# (natural key, kind, state, message before, run_key) → (origin, reason, replaces_record_id, op_day, message after)
LEDGER_0015 = [
    (("A|1", "penalty", "accepted", "处理成功", "sgs_penalty|2026-11-03"),
     ("sgs", None, None, "2026-11-03", "处理成功")),
    (("A|2", "penalty", "pending", "credit:公示期满（2029-04-02），停止公示", "credit_penalties|2029-04-03"),
     ("credit", "公示期满（2029-04-02），停止公示", None, "2029-04-03", None)),
    (("A|3", "penalty", "sent", "credit:信用修复：经审核同意修复", "credit_page|2026-07-03"),
     ("credit", "信用修复：经审核同意修复", None, "2026-07-03", None)),
    (("A|4", "penalty", "accepted", "credit:公示期满，停止公示", "credit_repair:2026-01-05"),
     ("credit", "公示期满，停止公示", None, "2026-01-05", None)),
    (("A|5", "penalty", "rejected", "credit:字段缺失", "sgs:penalty:2026-01-06"),
     ("credit", None, None, "2026-01-06", "字段缺失")),
    (("A|6", "penalty", "pending", "replaced_by:case_db:D0042", "sgs_penalty|2026-11-06T00:00:00+08:00"),
     ("sgs", None, "case_db:D0042", "2026-11-06", None)),
    (("A|7", "penalty", "sent", "replaced_by:case_db:D0043", "sgs_penalty|2026-11-06"),
     ("sgs", None, "case_db:D0043", "2026-11-06", None)),
    (("L|1", "dishonest_list", "accepted", "credit:列入严重失信主体名单", "credit_list|2026-10-09"),
     ("credit", "列入严重失信主体名单", None, "2026-10-09", None)),
    (("L|2", "dishonest_list", "rejected", "credit:SX_LRYY 缺失", "credit_list|2026-10-10"),
     ("credit", None, None, "2026-10-10", "SX_LRYY 缺失")),
    (("X|1", "license", "rejected", "许可决定日期晚于数据上报日期", "sgs_license|2026-11-03T00:00:00+08:00"),
     ("sgs", None, None, "2026-11-03", "许可决定日期晚于数据上报日期")),
    (("X|2", "coercion", "accepted", None, None), ("sgs", None, None, None, None)),
    (("X|3", "coercion", "accepted", None, "r2"), ("sgs", None, None, None, None)),
]


def test_0015_turns_the_message_prefixes_into_columns_and_keeps_every_row(engine):
    """Revision 0015: a warehouse at 0014 with ledger rows in every state, both prefixes, every run-key form:
    every row is kept (every other column as it was), the new columns are derived, ``message`` keeps only
    the platform's text; the ledger's history is untouched."""
    wh.upgrade(engine, "0014")
    old = sa.Table("cf_ledger", sa.MetaData(), autoload_with=engine)
    assert not {"origin", "reason", "replaces_record_id", "op_day"} & set(old.c.keys())
    with engine.begin() as conn:
        for i, ((nk, kind, state, message, run_key), _) in enumerate(LEDGER_0015):
            conn.execute(old.insert().values(
                kind=kind, natural_key=nk, owner_record_id=f"o:{i}", state=state, message=message, run_key=run_key,
                op="withdraw" if i % 2 else "create", pending_hash=f"{i:064d}", batch_key=f"bk{i}", batch_seq=0,
                platform_status="published" if state == "accepted" else None, updated_at=NOW))
            conn.execute(wh.ledger_history.insert().values(kind=kind, natural_key=nk, record_id=f"o:{i}",
                                                           state=state, run_key=run_key, at=NOW))
    kept = [c.name for c in old.columns if c.name != "message"]
    with engine.connect() as conn:
        before = {(r["kind"], r["natural_key"]): dict(r) for r in conn.execute(sa.select(old)).mappings()}
        history = conn.execute(sa.select(wh.ledger_history).order_by(wh.ledger_history.c.id)).all()
    assert {s for (_, _, s, _, _), _ in LEDGER_0015} == {"pending", "sent", "accepted", "rejected"}
    assert wh.upgrade(engine) == ("0014", migrations.head())
    L = wh.ledger
    with engine.connect() as conn:
        after = {(r["kind"], r["natural_key"]): dict(r) for r in conn.execute(sa.select(L)).mappings()}
        assert conn.execute(sa.select(wh.ledger_history).order_by(wh.ledger_history.c.id)).all() == history
        assert model_diff(conn) == []
    assert set(after) == set(before)
    for (nk, kind, _, _, _), (origin, reason, replaces, day, message) in LEDGER_0015:
        row = after[(kind, nk)]
        assert {c: row[c] for c in kept} == {c: before[(kind, nk)][c] for c in kept}
        assert (row["origin"], row["reason"], row["replaces_record_id"], row["op_day"], row["message"]) == (
            origin, reason, replaces, day, message), nk
    assert not any(str(r["message"] or "").startswith(("credit:", "replaced_by:")) for r in after.values())


def test_0019_clears_the_nan_text_keyless_records_were_given(engine):
    """Revision 0019: the text 'NaN' PostgreSQL stored for a keyless record's keys becomes NULL; real keys
    (one that merely contains 'NaN', an upper-cased 'NAN') are left as they are."""
    wh.upgrade(engine, "0018")
    std = sa.Table("cf_std", sa.MetaData(), autoload_with=engine)
    out = sa.Table("cf_outcome", sa.MetaData(), autoload_with=engine)
    base = {"kind": "penalty", "source_system": "district_file", "source_revoked": False, "content_hash": "h",
            "body_hash": "b", "payload": "{}"}
    with engine.begin() as conn:
        conn.execute(std.insert(), [
            {**base, "run_key": "r", "record_id": "a", "natural_key": "NaN", "doc_key": "NaN", "party_key": "NaN"},
            {**base, "run_key": "r", "record_id": "b", "natural_key": "NAN|91230500MA1B3N1N2M", "doc_key": "NAN",
             "party_key": "91230500MA1B3N1N2M"}])
        conn.execute(out.insert(), [{"run_key": "r", "record_id": "a", "kind": "penalty", "outcome": "quarantined",
                                     "natural_key": "NaN", "late": False, "due_soon": False}])
    assert wh.upgrade(engine) == ("0018", migrations.head())
    with engine.connect() as conn:
        keys = {r[0]: tuple(r[1:]) for r in conn.execute(sa.select(
            wh.standardised.c.record_id, wh.standardised.c.natural_key, wh.standardised.c.doc_key,
            wh.standardised.c.party_key))}
        outcome_key = conn.execute(sa.select(wh.outcomes.c.natural_key)).scalar_one()
    assert keys == {"a": (None, None, None), "b": ("NAN|91230500MA1B3N1N2M", "NAN", "91230500MA1B3N1N2M")}
    assert outcome_key is None


def test_0020_adds_when_each_outcome_was_decided_and_keeps_every_outcome(engine):
    """Revision 0020: ``cf_outcome.decided_at``, NULL for the outcomes written before (no load asks about them)."""
    wh.upgrade(engine, "0019")
    out = sa.Table("cf_outcome", sa.MetaData(), autoload_with=engine)
    assert "decided_at" not in out.c
    with engine.begin() as conn:
        conn.execute(out.insert(), [{"run_key": "r", "record_id": rid, "kind": "penalty", "outcome": "uploaded",
                                     "late": False, "due_soon": False} for rid in ("a", "b")])
    assert wh.upgrade(engine) == ("0019", migrations.head())
    with engine.connect() as conn:
        rows = conn.execute(sa.select(wh.outcomes.c.record_id, wh.outcomes.c.outcome, wh.outcomes.c.decided_at)
                            .order_by(wh.outcomes.c.record_id)).all()
    assert [tuple(r) for r in rows] == [("a", "uploaded", None), ("b", "uploaded", None)]
