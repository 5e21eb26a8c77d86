"""The serious-dishonesty list as the plan reads it from the warehouse (the credit capability's
``cf_credit_case``): every listing that was decided, with the day it started and the day it ended.

A case is on the list from ``list_start`` (the listing decision) to the day it left it: ``removed_on`` of an
early removal or of the expiry at the end of the management period, else ``list_end`` (a listing whose
period ended before the expiry job ran is off the list on its end day all the same). The states whose
listing is in force are the credit capability's own (``lifecycle.ACTIVE``); removed and expired cases keep
their dates, so a unit listed during last year is found even when it has left the list since. A listing
that was annulled (its penalty revoked) never counts, nor do candidates and dismissed cases, which were
never listed.

The plan matches listings to enterprises by the party's USCC (``party_key``), normalised on both sides.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from creditflow.core import normalize as nz
from creditflow.planning.inputs import InputError, ListedParty, open_engine

LEFT_LIST = ("removed", "expired")  # left the list, dates kept


class WarehouseDishonestyList:
    """``DishonestyListSource`` on the warehouse (a SQLAlchemy URL or engine)."""

    def __init__(self, db: str | sa.Engine):
        self.db = db
        self.description = "严重失信主体名单：信用库（cf_credit_case，已作出列入决定的案件，含已移出者）"

    def entries(self) -> list[ListedParty]:
        from creditflow.core import warehouse as wh
        from creditflow.core.pii import is_blind
        from creditflow.credit.lifecycle import ACTIVE
        from creditflow.credit.rules import situations
        from creditflow.credit.store import shown_name

        titles = {s.id: s.title_zh for s in situations()}
        C = wh.credit_case
        try:
            engine = open_engine(self.db, "warehouse (严重失信主体名单)")
            with engine.connect() as conn:
                rows = conn.execute(
                    sa.select(C.c.case_id, C.c.party_key, C.c.party_type, C.c.party_name, C.c.situation_id, C.c.state,
                              C.c.list_start, C.c.list_end, C.c.removed_on)
                    .where(C.c.state.in_((*ACTIVE, *LEFT_LIST)), C.c.list_start.is_not(None))
                    .order_by(C.c.list_start, C.c.case_id)).all()
        except (sa.exc.SQLAlchemyError, sa.exc.ArgumentError) as exc:
            raise InputError(f"warehouse (严重失信主体名单): {type(exc).__name__}: "
                             f"{str(exc).splitlines()[0][:200]}") from None
        out: list[ListedParty] = []
        for case_id, party_key, party_type, name, situation, state, start, end, removed in rows:
            # a natural person (#19 §3): their blind index, which matches no enterprise's USCC, and the name masked
            code = party_key if is_blind(party_key) else nz.normalize_code(party_key)
            name = shown_name(party_type, name)
            listed_on = _day(start)
            if code is None or listed_on is None:
                continue
            left = _day(removed) if state in LEFT_LIST else None
            left = left or _day(end)
            out.append(ListedParty(code, str(name or ""), listed_on, left,
                                   f"{titles.get(str(situation), str(situation))}（{case_id}）"))
        return out


def _day(value: object) -> dt.date | None:
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
