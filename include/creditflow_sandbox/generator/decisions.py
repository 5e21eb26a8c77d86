"""The decision stream: one dict per decision with the rows for its source, its manifest line and its
timed events (see the package docstring)."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from typing import Any

from creditflow.core import identifiers as ids
from creditflow.core import normalize as nz
from creditflow.core.workdays import CalendarNotCovered, official_calendar

from creditflow_sandbox.generator.config import (
    AUTHORITY_USCC,
    DEFECTS,
    SOURCE_SHARES,
    TZ_OFFSET,
    GeneratorConfig,
    _fullwidth,
    _iso,
    _ts,
    _typo,
    vocabulary,
)
from creditflow_sandbox.generator.parties import Parties, corrupt_check


class Generator:
    """Streams decisions; see the module docstring. ``iter_decisions`` yields one dict per decision."""

    def __init__(self, cfg: GeneratorConfig):
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.parties = Parties(self.rng, cfg)
        self.cal = official_calendar()
        voc = vocabulary()
        self.voc = voc
        self.days = [cfg.start + dt.timedelta(days=i) for i in range(cfg.days)]
        self.workdays = [d for d in self.days if self.cal.is_workday(d)] or self.days
        self.seq: dict[str, int] = {}
        self.horizon = cfg.horizon
        self.last_workday = self._last_workday(cfg.horizon) if cfg.horizon else None

    def _last_workday(self, day: dt.date) -> dt.date | None:
        for back in range(60):
            candidate = day - dt.timedelta(days=back)
            if self.cal.is_workday(candidate):
                return candidate
        return None

    def _after(self, day: dt.date, n: int) -> dt.date:
        """``n`` working days after ``day``; with a horizon, a day past the official calendar is past the
        horizon too (the change then happens on the last working day, or not at all) — never an error."""
        try:
            return self.cal.add_working_days(day, n)
        except CalendarNotCovered:
            if self.horizon is None:
                raise
            return dt.date.max

    def _when(self, day: dt.date, planned: dt.date) -> dt.date | None:
        """The working day a change planned for ``planned`` (after the decision ``day``) happens on: as
        planned, or with a horizon no later than its last working day — None when none is left after ``day``."""
        if self.horizon is None or planned <= self.horizon:
            return planned
        last = self.last_workday
        return last if last is not None and last > day else None

    def _next(self, prefix: str) -> int:
        self.seq[prefix] = self.seq.get(prefix, 0) + 1
        return self.seq[prefix]

    def _defect(self, allowed: tuple[str, ...]) -> str | None:
        r = self.rng.random()
        for name in DEFECTS:
            rate = self.cfg.rates.get(name, 0.0)
            if r < rate:
                return name if name in allowed else None
            r -= rate
        return None

    def iter_decisions(self) -> Iterator[dict[str, Any]]:
        shares = list(SOURCE_SHARES.items())
        for i in range(self.cfg.decisions):
            day = self.workdays[i * len(self.workdays) // self.cfg.decisions]
            source = self.rng.choices([s for s, _ in shares], [w for _, w in shares])[0]
            if source == "case_penalty":
                yield from self._case_penalty(i, day)
            elif source == "case_coercion":
                yield from self._case_coercion(i, day)
            elif source == "licensing":
                yield self._licence(i, day)
            else:
                yield self._district_penalty(i, day, None)

    # --- parties ---------------------------------------------------------------------------------
    def _party(self, allow_person: bool = True) -> tuple[str, dict[str, Any]]:
        if allow_person and self.rng.random() < self.cfg.person_share:
            return "PER", self.rng.choice(self.parties.persons)
        ent = self.rng.choice(self.parties.enterprises)
        return ent["ent_kind"], ent

    # --- case system -----------------------------------------------------------------------------
    def _violation(self) -> dict[str, Any]:
        return self.rng.choice(self.voc["violations"])

    def _case_penalty(self, i: int, day: dt.date) -> Iterator[dict[str, Any]]:
        rng = self.rng
        ptype, party = self._party()
        v = self._violation()
        codes = list(v["codes"])
        if ptype == "PER":
            codes = [c for c in codes if c in ("W", "FK")] or ["FK"]
        fine = rng.choice(v["fine_yuan"]) if "FK" in codes else None
        confiscation = rng.choice(v.get("confiscation_yuan", [0])) if "MS1" in codes else None
        city = self.voc["city"]
        doc_no = f"{city['doc_prefix']}〔{day.year}〕{self._next('cf' + str(day.year)):04d}号"
        defect = self._defect(("missing_required", "bad_checksum", "fullwidth", "late_entry", "edit_after_upload",
                               "revocation", "cross_source_duplicate", "near_duplicate", "yuan_as_wan"))
        if ptype == "PER" and defect == "bad_checksum":
            defect = None
        created = _ts(day, 9 + rng.randrange(0, 8), rng.randrange(0, 60))
        content = "；".join(
            [f"罚款人民币{fine / 10000:g}万元" if fine and fine >= 10000 else f"罚款人民币{fine}元"] if fine else [])
        if "W" in codes:
            content = "警告" + ("；" + content if content else "")
        if confiscation:
            content += f"；没收违法所得人民币{confiscation}元"
        if "DX" in codes:
            content += "；吊销危险化学品经营许可证"
        if "TC" in codes:
            content += "；责令停产停业整顿"
        row = {
            "decision_id": f"D{i:08d}", "case_id": f"C{i:08d}", "doc_no": doc_no, "decision_date": day,
            "penalty_codes": ",".join(codes), "fine_yuan": fine, "confiscation_yuan": confiscation,
            "licence_affected": v["licence"].format(n=rng.randrange(100, 999)) if "DX" in codes else None,
            "violation_type": v["type"], "facts": v["facts"], "legal_basis": v["basis"], "content": content,
            "effect_until": day + dt.timedelta(days=365), "status": "VALID", "status_changed_at": None,
            "created_at": created, "updated_at": created,
        }
        case = {"case_id": row["case_id"], "case_no": f"珠应急立〔{day.year}〕{i:06d}号",
                "department": rng.choice(["危险化学品安全监督管理科", "工贸行业安全监督管理科", "执法监督科"]),
                "authority_name": city["authority"], "authority_uscc": AUTHORITY_USCC,
                "party_type": ptype, "ent_id": party.get("ent_id"), "person_id": party.get("person_id"),
                "status": "DECIDED", "created_at": created, "updated_at": created}
        party_key = party["id_no"] if ptype == "PER" else party["uscc"]
        record_id = f"case_db:{row['decision_id']}"
        m: dict[str, Any] = {"kind": "penalty", "source": "case_db", "record_id": record_id,
                             "decision_date": day.isoformat(), "natural_key": f"{doc_no}|{party_key}",
                             "defect": defect, "outcome": "uploaded", "events": []}
        if ptype == "PER":
            m["review"] = "natural_person"
        events: list[dict[str, Any]] = []
        if defect == "missing_required":
            row["facts"] = None
            m.update(outcome="quarantined", rule="REQUIRED", field="CF_SY")
            fix_day = self._when(day, self._after(day, 2))
            if rng.random() < 0.5 and fix_day is not None:  # the clerk fixes the record two working days later
                fix_at = _ts(fix_day, 15)
                events.append({"at": fix_at, "table": "penalty_decision", "key": row["decision_id"],
                               "set": {"facts": v["facts"], "updated_at": fix_at}})
                m.update(outcome="uploaded", fixed_after_quarantine=True)
                m.pop("rule"), m.pop("field")
        elif defect == "bad_checksum":
            m["uscc_override"] = corrupt_check(party["uscc"])
            m["natural_key"] = f"{doc_no}|{m['uscc_override']}"
            m.update(outcome="quarantined", rule="USCC_INVALID", field="CF_XDR_SHXYM")
        elif defect == "yuan_as_wan" and fine:
            row["fine_yuan"] = round(fine / 10000, 2)  # the clerk typed 万元 into a 元 field
            if row["fine_yuan"] * 10000 == fine:
                m.update(outcome="quarantined", rule="AMOUNT_UNIT", field="CF_NR_FK")
            else:
                row["fine_yuan"], m["defect"] = fine, None
        elif defect == "fullwidth":
            row["doc_no"] = _fullwidth(doc_no).replace("〔", "[").replace("〕", "]")
        elif defect == "late_entry":
            lag = 9 + rng.randrange(0, 5)
            if self.horizon is None:
                late = _ts(self.cal.add_working_days(day, lag), 11)
            else:  # entered on its slot day, decided ``lag`` working days before
                late = _ts(day, 11)
                decided = self.cal.add_working_days(day, -lag)
                row.update(decision_date=decided, effect_until=decided + dt.timedelta(days=365))
                m["decision_date"] = decided.isoformat()
            row["created_at"] = row["updated_at"] = case["created_at"] = case["updated_at"] = late
            m.update(late=True, entered_at=late.isoformat())
            events.append({"at": late, "op": "insert", "rows": {"enforcement_case": [case], "penalty_decision": [row]}})
        elif defect == "edit_after_upload":
            edit_day = self._when(day, self._after(day, 3))
            if edit_day is None:
                m["defect"] = defect = None
            else:
                at = _ts(edit_day, 16)
                new_basis = v["basis"] + "；《生产安全事故应急预案管理办法》第四十五条"
                events.append({"at": at, "table": "penalty_decision", "key": row["decision_id"],
                               "set": {"legal_basis": new_basis, "updated_at": at}})
                m.update(outcome="corrected", review="correction")
        elif defect == "revocation":
            revoke_day = self._when(day, self._after(day, 4))
            if revoke_day is None:
                m["defect"] = defect = None
            else:
                at = _ts(revoke_day, 14)
                events.append({"at": at, "table": "penalty_decision", "key": row["decision_id"],
                               "set": {"status": "REVOKED", "status_changed_at": at, "updated_at": at}})
                m.update(outcome="withdrawn", review="withdrawal")
        if ptype == "PER" and m["outcome"] == "uploaded":
            m["review"] = "natural_person"
        for e in events:
            m["events"].append(json.loads(json.dumps({**e, "at": e["at"].isoformat()}, default=_iso)))
        m["party"] = party_truth(ptype, party)
        yield {"type": "case_penalty", "row": row, "case": case, "party": party, "ptype": ptype,
               "manifest": m, "events": events, "uscc_override": m.get("uscc_override")}
        if defect in ("cross_source_duplicate", "near_duplicate") and ptype != "PER":
            yield from self._district_copy(row, case, party, m, defect)

    def _district_copy(self, row: dict[str, Any], case: dict[str, Any], party: dict[str, Any],
                       original: dict[str, Any], defect: str) -> Iterator[dict[str, Any]]:
        """The same decision reported again by a district in its spreadsheet (a day later)."""
        std = _standard_penalty(row, case, party, "法人及非法人组织" if case["party_type"] == "ENT" else "个体工商户")
        district = next((d for d in self.voc["districts"] if d["code"] == party["district_code"]),
                        self.voc["districts"][0])
        arrive = self._after(row["decision_date"], 1)
        if self.horizon is not None and arrive > self.horizon:
            return  # it would arrive after the last day anything happens
        m: dict[str, Any] = {"kind": "penalty", "source": "district_file", "decision_date":
                             row["decision_date"].isoformat(), "defect": defect, "district": district["name"],
                             "file_day": arrive.isoformat(), "events": []}
        if defect == "near_duplicate":
            std["CF_WSH"] = _typo(std["CF_WSH"], self.rng)
            m.update(outcome="duplicate", review="near_duplicate", review_decision="duplicate",
                     duplicate_of=original["record_id"])
        else:
            m.update(outcome="duplicate", duplicate_of=original["record_id"])
        nk = f"{nz.doc_no_key(std['CF_WSH'])}|{std['CF_XDR_SHXYM']}"
        m["natural_key"] = nk
        m["record_id"] = f"district_file:{district['code']}:{ids.public_key(nk)}"
        m["party"] = party_truth(case["party_type"], party)
        yield {"type": "district", "std": std, "district": district, "day": arrive, "manifest": m}

    def _case_coercion(self, i: int, day: dt.date) -> Iterator[dict[str, Any]]:
        rng = self.rng
        ptype, party = self._party(allow_person=False)
        c = rng.choice(self.voc["coercion"])
        city = self.voc["city"]
        doc_no = f"{city['coercion_prefix']}〔{day.year}〕{self._next('qz' + str(day.year)):04d}号"
        created = _ts(day, 10 + rng.randrange(0, 6))
        lifted = None
        row = {"measure_id": f"M{i:08d}", "case_id": f"C{i:08d}", "doc_no": doc_no, "measure_type": c["measure"],
               "decision_date": day, "start_date": day, "end_date": day + dt.timedelta(days=30),
               "lifted_date": lifted, "objects": c["objects"].format(n=rng.randrange(2, 30)), "reason": c["reason"],
               "legal_basis": c["basis"], "status": "VALID", "created_at": created, "updated_at": created}
        case = {"case_id": row["case_id"], "case_no": f"珠应急立〔{day.year}〕{i:06d}号", "department": "执法监督科",
                "authority_name": city["authority"], "authority_uscc": AUTHORITY_USCC, "party_type": ptype,
                "ent_id": party.get("ent_id"), "person_id": None, "status": "OPEN", "created_at": created,
                "updated_at": created}
        m: dict[str, Any] = {"kind": "coercion", "source": "case_db", "record_id": f"case_db:{row['measure_id']}",
             "decision_date": day.isoformat(), "natural_key": f"{doc_no}|{party['uscc']}", "defect": None,
             "outcome": "uploaded", "events": []}
        m["party"] = party_truth(ptype, party)
        yield {"type": "case_coercion", "row": row, "case": case, "party": party, "ptype": ptype, "manifest": m,
               "events": []}

    # --- licensing -------------------------------------------------------------------------------
    def _licence(self, i: int, day: dt.date) -> dict[str, Any]:
        rng = self.rng
        ptype, party = self._party(allow_person=False)
        lic = rng.choice(self.voc["licences"])
        city = self.voc["city"]
        doc_no = f"{city['licence_prefix']}〔{day.year}〕{self._next('xk' + str(day.year)):04d}号"
        defect = self._defect(("missing_required", "bad_checksum", "malformed_date", "fullwidth"))
        updated = f"{day.isoformat()}T{10 + rng.randrange(0, 7):02d}:{rng.randrange(0, 60):02d}:00{TZ_OFFSET}"
        item = {
            "id": f"L{i:08d}", "approvalNo": doc_no, "docName": lic["doc_name"] + "核发决定书",
            "licenceType": lic["type"], "certName": lic["cert"], "certNo": f"粤珠{rng.randrange(10**5, 10**6)}",
            "scope": lic["scope"], "decidedOn": day.isoformat(), "validFrom": day.isoformat(),
            "validTo": (day.replace(year=day.year + lic["years"]) - dt.timedelta(days=1)).isoformat(),
            "state": "VALID", "revoked": False,
            "holder": {"kind": "INDIVIDUAL_BUSINESS" if ptype == "IND" else "ORG", "name": party["ent_name"],
                       "uscc": party["uscc"], "legalRep": party["legal_rep"], "idType": None, "idNo": None},
            "authority": {"name": city["authority"], "uscc": AUTHORITY_USCC},
            "updatedAt": updated,
        }
        m: dict[str, Any] = {"kind": "license", "source": "licensing_api", "record_id": f"licensing_api:{item['id']}",
                             "decision_date": day.isoformat(), "natural_key": f"{doc_no}|{party['uscc']}",
                             "defect": defect, "outcome": "uploaded", "events": []}
        if defect == "missing_required":
            item["scope"] = ""
            m.update(outcome="quarantined", rule="REQUIRED", field="XK_NR")
        elif defect == "bad_checksum":
            item["holder"]["uscc"] = corrupt_check(party["uscc"])
            m["natural_key"] = f"{doc_no}|{item['holder']['uscc']}"
            m.update(outcome="quarantined", rule="USCC_INVALID", field="XK_XDR_SHXYM")
        elif defect == "malformed_date":
            item["validTo"] = f"{day.year + 3}-02-30"
            m.update(outcome="quarantined", rule="DATE_FORMAT", field="XK_YXQZI")
        elif defect == "fullwidth":
            item["holder"]["name"] = item["holder"]["name"].replace("珠海", "珠海 ") + " "
            item["approvalNo"] = doc_no.replace("〔", "【").replace("〕", "】")
        m["party"] = party_truth(ptype, party)
        return {"type": "licensing", "item": item, "manifest": m, "events": []}

    # --- districts -------------------------------------------------------------------------------
    def _district_penalty(self, i: int, day: dt.date, _: Any) -> dict[str, Any]:
        rng = self.rng
        ptype, party = self._party()
        v = self._violation()
        district = rng.choice(self.voc["districts"])
        codes = [c for c in v["codes"] if c in ("W", "FK")] or ["FK"]
        fine = rng.choice(v["fine_yuan"])
        doc_no = f"{district['doc_prefix']}〔{day.year}〕{self._next(district['doc_prefix']):04d}号"
        lb = {"PER": "自然人", "IND": "个体工商户", "ENT": "法人及非法人组织"}[ptype]
        cat = {"W": "警告", "FK": "罚款"}
        std: dict[str, Any] = {
            "CF_XDR_MC": party.get("ent_name") or party.get("person_name"), "CF_XDR_LB": lb,
            "CF_XDR_SHXYM": party.get("uscc"), "CF_FRDB": party.get("legal_rep"),
            "CF_XDR_ZJLX": "身份证" if ptype == "PER" else None, "CF_XDR_ZJHM": party.get("id_no"),
            "CF_WSH": doc_no, "CF_WFXW": v["type"], "CF_SY": v["facts"], "CF_YJ": v["basis"],
            "CF_CFLB": ";".join(cat[c] for c in codes), "CF_NR": f"罚款人民币{fine}元",
            "CF_NR_FK": f"{fine / 10000:g}", "CF_JDRQ": day.isoformat(),
            "CF_YXQ": (day + dt.timedelta(days=365)).isoformat(), "CF_CFJG": district["authority"],
            "CF_CFJGDM": AUTHORITY_USCC, "CF_SJLY": district["authority"], "CF_SJLYDM": AUTHORITY_USCC,
        }
        if "W" in codes:
            std["CF_NR"] = "警告；" + std["CF_NR"]
        defect = self._defect(("missing_required", "bad_checksum", "yuan_as_wan", "malformed_date", "fullwidth"))
        if ptype == "PER" and defect == "bad_checksum":
            defect = None
        party_key = party.get("id_no") if ptype == "PER" else party.get("uscc")
        m: dict[str, Any] = {"kind": "penalty", "source": "district_file", "decision_date": day.isoformat(),
                             "defect": defect, "district": district["name"], "file_day": day.isoformat(),
                             "outcome": "uploaded", "events": []}
        if ptype == "PER":
            m["review"] = "natural_person"
        if defect == "missing_required":
            std["CF_YJ"] = None
            m.update(outcome="quarantined", rule="REQUIRED", field="CF_YJ")
        elif defect == "bad_checksum":
            std["CF_XDR_SHXYM"] = party_key = corrupt_check(party["uscc"])
            m.update(outcome="quarantined", rule="USCC_INVALID", field="CF_XDR_SHXYM")
        elif defect == "yuan_as_wan":
            std["CF_NR_FK"] = str(fine)
            m.update(outcome="quarantined", rule="AMOUNT_UNIT", field="CF_NR_FK")
        elif defect == "malformed_date":
            std["CF_JDRQ"] = f"{day.year}-{day.month:02d}-{day.day + 40}"
            m.update(outcome="quarantined", rule="DATE_FORMAT", field="CF_JDRQ")
        elif defect == "fullwidth":
            std["CF_WSH"] = _fullwidth(doc_no).replace("〔", "（").replace("〕", "）")
            std["CF_XDR_MC"] = " " + std["CF_XDR_MC"].replace("有限公司", " 有限公司")
        if m["outcome"] != "uploaded":
            m.pop("review", None)
        nk = f"{nz.doc_no_key(std['CF_WSH'])}|{party_key}"
        m["natural_key"] = nk
        m["record_id"] = f"district_file:{district['code']}:{ids.public_key(nk)}"
        m["party"] = party_truth(ptype, party)
        return {"type": "district", "std": std, "district": district, "day": day, "manifest": m}


def party_truth(ptype: str, party: dict[str, Any]) -> dict[str, Any]:
    """The manifest's ``party`` of a decision: who it concerns, with the personal data the auditor's scan
    (``creditflow audit pii-scan``) must not find in clear — a natural person's name and ID number, an
    enterprise's legal representative (and the enterprise's name, to tell a surname in it from a person)."""
    if ptype == "PER":
        return {"type": "PER", "name": party["person_name"], "id_type": party.get("id_type", "RIC"),
                "id_no": party["id_no"]}
    return {"type": ptype, "name": party["ent_name"], "uscc": party["uscc"], "legal_rep": party.get("legal_rep")}


def _standard_penalty(row: dict[str, Any], case: dict[str, Any], party: dict[str, Any], lb: str) -> dict[str, Any]:
    table = {"W": "警告", "FK": "罚款", "MS1": "没收违法所得", "MS2": "没收非法财物", "DX": "吊销许可证件",
             "TC": "责令停产停业"}
    return {
        "CF_XDR_MC": party["ent_name"], "CF_XDR_LB": lb, "CF_XDR_SHXYM": party["uscc"], "CF_FRDB": party["legal_rep"],
        "CF_WSH": row["doc_no"], "CF_WFXW": row["violation_type"], "CF_SY": row["facts"], "CF_YJ": row["legal_basis"],
        "CF_CFLB": ";".join(table[c] for c in row["penalty_codes"].split(",")), "CF_NR": row["content"],
        "CF_NR_FK": f"{row['fine_yuan'] / 10000:g}" if row["fine_yuan"] else None,
        "CF_NR_WFFF": f"{row['confiscation_yuan'] / 10000:g}" if row["confiscation_yuan"] else None,
        "CF_NR_ZKDX": row["licence_affected"], "CF_JDRQ": row["decision_date"].isoformat(),
        "CF_YXQ": row["effect_until"].isoformat(), "CF_CFJG": case["authority_name"],
        "CF_CFJGDM": case["authority_uscc"], "CF_SJLY": "珠海市应急管理局", "CF_SJLYDM": AUTHORITY_USCC,
    }
