"""Realistic dirty data for the sandboxes, with a ground-truth manifest of what the pipeline must do.

``generate`` streams decisions (deterministic by seed) into three sources — the case system
(penalties, coercive measures), the licensing system and district spreadsheets — with defects at
configurable rates. Every decision gets one manifest line (JSON): its source, record id, natural key
and the outcome the pipeline must reach:

* ``uploaded`` (``late`` when entered after its due date), ``quarantined`` (with ``rule``/``field``),
  ``duplicate`` (``duplicate_of`` a record id), ``corrected`` (更正 after an edit), ``withdrawn``
  (撤销 after a revocation), ``revoked_unpublished``;
* ``review``: the reason when the record needs a human at some level (natural persons, near
  duplicates, corrections, withdrawals); ``review_decision`` is what a correct reviewer decides.

Changes that happen *after* a decision was first entered (late entry, edit, revocation, fix of a
quarantined record, a district copy arriving later) are **events** with a timestamp, written to
the manifest and applied by :func:`apply_events` — so a test can run the pipeline day by day and
apply each day's events in between, as in real life.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from creditflow.core import identifiers as ids
from creditflow.core import normalize as nz
from creditflow.core.workdays import official_calendar

DEFECTS = ("missing_required", "bad_checksum", "yuan_as_wan", "malformed_date", "fullwidth", "late_entry",
           "edit_after_upload", "revocation", "cross_source_duplicate", "near_duplicate")
DEFAULT_RATES = {"missing_required": 0.03, "bad_checksum": 0.02, "yuan_as_wan": 0.02, "malformed_date": 0.02,
                 "fullwidth": 0.05, "late_entry": 0.04, "edit_after_upload": 0.03, "revocation": 0.02,
                 "cross_source_duplicate": 0.03, "near_duplicate": 0.02}
SOURCE_SHARES = {"case_penalty": 0.55, "case_coercion": 0.08, "licensing": 0.22, "district": 0.15}
SQL_DIR = Path(__file__).resolve().parents[1] / "sql"
USCC_BODY = "0123456789ABCDEFGHJKLMNPQRTUWXY"
TZ_OFFSET = "+08:00"


@dataclass
class GeneratorConfig:
    seed: int = 20261127
    decisions: int = 1000
    start: dt.date = dt.date(2026, 11, 2)
    days: int = 14
    rates: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    person_share: float = 0.05
    sole_trader_share: float = 0.10
    corrupt_file_share: float = 0.0
    chunk: int = 5000


@cache
def vocabulary() -> dict[str, Any]:
    path = resources.files("creditflow_sandbox") / "data" / "vocabulary.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def make_uscc(rng: random.Random, prefix: str, region: str) -> str:
    """A valid USCC whose positions 9-17 also carry a valid GB 11714 check digit."""
    while True:
        body = "MA" + "".join(rng.choice(USCC_BODY) for _ in range(6))
        org = body + ids.org_code_check_char(body)
        if all(c in USCC_BODY for c in org):
            first17 = prefix + region + org
            return first17 + ids.uscc_check_char(first17)


def make_ric(rng: random.Random) -> str:
    """A resident ID valid for python-stdnum too: the county code must exist in the birth year
    (香洲区 440402 since 1979; 斗门区 440403 and 金湾区 440404 since 2001)."""
    while True:
        region = rng.choice(["440402", "440402", "440403", "440404", "430102", "450103"])
        birth = dt.date(1962, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 42))
        first17 = f"{region}{birth:%Y%m%d}{rng.randrange(0, 1000):03d}"
        number = first17 + ids.ric_check_char(first17)
        if not ids.validate_ric(number):
            return number


def corrupt_check(code: str, alphabet: str = USCC_BODY) -> str:
    wrong = [c for c in alphabet if c != code[-1]]
    return code[:-1] + wrong[hash(code) % len(wrong)]


class _Parties:
    def __init__(self, rng: random.Random, cfg: GeneratorConfig):
        from faker import Faker

        self.rng = rng
        self.fake = Faker("zh_CN")
        self.fake.seed_instance(cfg.seed)
        self.cfg = cfg
        voc = vocabulary()
        self.industries = voc["industries"]
        self.weights = [i["weight"] for i in self.industries]
        self.districts = voc["districts"]
        size = max(20, min(cfg.decisions // 3, 50_000))  # bounded: the generator streams decisions
        self.enterprises: list[dict[str, Any]] = []
        self.persons: list[dict[str, Any]] = []
        for i in range(size):
            self.enterprises.append(self._enterprise(i))
        for i in range(max(5, size // 10)):
            self.persons.append({"person_id": f"P{i:07d}", "person_name": self.fake.name(), "id_type": "RIC",
                                 "id_no": make_ric(rng)})

    def _enterprise(self, i: int) -> dict[str, Any]:
        rng = self.rng
        ind = rng.choices(self.industries, self.weights)[0]
        district = rng.choice(self.districts)
        sole = rng.random() < self.cfg.sole_trader_share
        word = self.fake.last_name() + rng.choice(["华", "宏", "达", "鑫", "海", "盛", "泰", "源"])
        if sole:
            name = f"珠海市{district['name']}{word}{rng.choice(ind['words'])}经营部"
        else:
            name = f"珠海{word}{rng.choice(ind['words'])}有限公司"
        return {
            "ent_id": f"E{i:07d}", "uscc": make_uscc(rng, "92" if sole else "91", district["code"]),
            "ent_name": name, "ent_kind": "IND" if sole else "ENT", "district_code": district["code"],
            "district_name": district["name"], "industry": ind["name"], "key_supervision": ind["key"],
            "standard_grade": rng.choice(["一级", "二级", "三级", "未定级", "未定级"]),
            "risk_level": rng.choice(["重大", "较大", "一般", "一般", "低"]),
            "legal_rep": self.fake.name(), "address": self.fake.street_address(),
        }


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else str(value)


def _ts(day: dt.date, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute)


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _typo(doc_no: str, rng: random.Random) -> str:
    digits = [i for i, c in enumerate(doc_no) if c.isdigit()]
    tail = [i for i in digits if i > doc_no.find("〕")] or digits
    i = tail[-1] if len(tail) == 1 else rng.choice(tail)
    return doc_no[:i] + str((int(doc_no[i]) + 1) % 10) + doc_no[i + 1:]


class Generator:
    """Streams decisions; see the module docstring. ``iter_decisions`` yields one dict per decision."""

    def __init__(self, cfg: GeneratorConfig):
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.parties = _Parties(self.rng, cfg)
        self.cal = official_calendar()
        voc = vocabulary()
        self.voc = voc
        self.days = [cfg.start + dt.timedelta(days=i) for i in range(cfg.days)]
        self.workdays = [d for d in self.days if self.cal.is_workday(d)] or self.days
        self.seq: dict[str, int] = {}

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
                "authority_name": city["authority"], "authority_uscc": "11440400MB2C123457",
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
            if rng.random() < 0.5:  # the clerk fixes the record two working days later
                fix_at = _ts(self.cal.add_working_days(day, 2), 15)
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
            late = _ts(self.cal.add_working_days(day, 9 + rng.randrange(0, 5)), 11)
            row["created_at"] = row["updated_at"] = case["created_at"] = case["updated_at"] = late
            m.update(late=True, entered_at=late.isoformat())
            events.append({"at": late, "op": "insert", "rows": {"enforcement_case": [case], "penalty_decision": [row]}})
        elif defect == "edit_after_upload":
            at = _ts(self.cal.add_working_days(day, 3), 16)
            new_basis = v["basis"] + "；《生产安全事故应急预案管理办法》第四十五条"
            events.append({"at": at, "table": "penalty_decision", "key": row["decision_id"],
                           "set": {"legal_basis": new_basis, "updated_at": at}})
            m.update(outcome="corrected", review="correction")
        elif defect == "revocation":
            at = _ts(self.cal.add_working_days(day, 4), 14)
            events.append({"at": at, "table": "penalty_decision", "key": row["decision_id"],
                           "set": {"status": "REVOKED", "status_changed_at": at, "updated_at": at}})
            m.update(outcome="withdrawn", review="withdrawal")
        if ptype == "PER" and m["outcome"] == "uploaded":
            m["review"] = "natural_person"
        for e in events:
            m["events"].append(json.loads(json.dumps({**e, "at": e["at"].isoformat()}, default=_iso)))
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
        arrive = self.cal.add_working_days(row["decision_date"], 1)
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
                "authority_name": city["authority"], "authority_uscc": "11440400MB2C123457", "party_type": ptype,
                "ent_id": party.get("ent_id"), "person_id": None, "status": "OPEN", "created_at": created,
                "updated_at": created}
        m: dict[str, Any] = {"kind": "coercion", "source": "case_db", "record_id": f"case_db:{row['measure_id']}",
             "decision_date": day.isoformat(), "natural_key": f"{doc_no}|{party['uscc']}", "defect": None,
             "outcome": "uploaded", "events": []}
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
            "authority": {"name": city["authority"], "uscc": "11440400MB2C123457"},
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
            "CF_CFJGDM": "11440400MB2C123457", "CF_SJLY": district["authority"], "CF_SJLYDM": "11440400MB2C123457",
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
        return {"type": "district", "std": std, "district": district, "day": day, "manifest": m}


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
        "CF_CFJGDM": case["authority_uscc"], "CF_SJLY": "珠海市应急管理局", "CF_SJLYDM": "11440400MB2C123457",
    }


# --- writers -----------------------------------------------------------------------------------------


def create_case_schema(engine: sa.Engine) -> None:
    ddl = (SQL_DIR / "casedb" / "schema.sql").read_text(encoding="utf-8")
    with engine.begin() as conn:
        for statement in _split_sql(ddl):
            conn.exec_driver_sql(statement)


def _split_sql(text: str) -> list[str]:
    lines = [ln for ln in text.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


_CASE_TABLES = ("enterprise", "person", "inspector", "accident", "inspection", "enforcement_case",
                "penalty_decision", "coercive_measure")
DEPARTMENTS = ("危险化学品安全监督管理科", "工贸行业安全监督管理科", "执法监督科", "综合协调科")


def supervision_rows(gen: Generator) -> dict[str, list[dict[str, Any]]]:
    """The inspector roster, accidents and inspections of the enterprises (for the inspection plan).

    Deterministic by seed, drawn from its own RNG so that adding them changes no decision. Rates are
    realistic orders of magnitude, not statistics: ~1.5% of units with an accident in the year (mostly
    一般, a few 较大, rare concealment), about two inspections per key-supervision unit and one per other
    unit in the year before the data start, ≥ 2 inspectors each.
    """
    rng = random.Random(gen.cfg.seed + 1)
    fake = gen.parties.fake
    inspectors: list[dict[str, Any]] = [
        {"inspector_id": f"I{i:04d}", "inspector_name": fake.name(), "cert_no": f"粤应急执{440400 + i:08d}",
                   "department": DEPARTMENTS[i % len(DEPARTMENTS)], "active": 1 if rng.random() > 0.05 else 0}
                  for i in range(max(8, min(200, len(gen.parties.enterprises) // 250)))]
    year_start = gen.cfg.start - dt.timedelta(days=365)
    accidents: list[dict[str, Any]] = []
    inspections: list[dict[str, Any]] = []
    for ent in gen.parties.enterprises:
        if rng.random() < 0.015:
            level = rng.choices(["一般", "较大", "重大"], [0.9, 0.09, 0.01])[0]
            deaths = {"一般": rng.choice([0, 0, 1, 2]), "较大": rng.randint(3, 9), "重大": rng.randint(10, 29)}[level]
            accidents.append({"accident_id": f"A{len(accidents):06d}", "ent_id": ent["ent_id"],
                              "occurred_on": year_start + dt.timedelta(days=rng.randrange(365)),
                              "accident_level": level, "deaths": deaths, "injuries": rng.randint(0, 5),
                              "concealed": 1 if rng.random() < 0.05 else 0, "description": "生产安全事故"})
        for _ in range(rng.choice([1, 2, 2, 3]) if ent["key_supervision"] else rng.choice([0, 1, 1])):
            team = rng.sample(inspectors, 2)
            problems = rng.choice([0, 1, 2, 3, 5, 8])
            inspections.append({"inspection_id": f"N{len(inspections):07d}", "ent_id": ent["ent_id"],
                                "inspected_on": year_start + dt.timedelta(days=rng.randrange(365)),
                                "inspector_ids": ",".join(str(t["inspector_id"]) for t in team),
                                "problems_found": problems,
                                "major_hazards": 1 if problems >= 5 and rng.random() < 0.3 else 0,
                                "rectified": 1 if rng.random() < 0.85 else 0})
    return {"inspector": inspectors, "accident": accidents, "inspection": inspections}


def _insert(conn: sa.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    cols = list(rows[0])
    conn.execute(sa.text(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"),
                 rows)


class _DistrictWriter:
    """One file per (district, arrival day); formats rotate: xlsx (Chinese headers), csv UTF-8 with BOM
    (code headers), csv GB18030 (Chinese headers with half-width brackets)."""

    def __init__(self, inbox: Path, rng: random.Random, corrupt_share: float):
        self.inbox = inbox
        self.rng = rng
        self.corrupt_share = corrupt_share
        self.rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.files: list[str] = []

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
                path = self.inbox / f"{stem}.xlsx"
                wb.save(path)
            else:
                buf = io.StringIO()
                w = csv.writer(buf)
                w.writerow([f.code for f in fields] if fmt == 1 else
                           [f.name_zh.replace("（", "(").replace("）", ")") for f in fields])
                for r in rows:
                    w.writerow(["" if r.get(f.code) is None else r.get(f.code) for f in fields])
                path = self.inbox / f"{stem}.csv"
                path.write_bytes(buf.getvalue().encode("utf-8-sig" if fmt == 1 else "gb18030"))
            written.append(path.name)
        if self.corrupt_share and before is None and (self.files or written):
            pool = [*self.files, *written]
            k = max(1, int(len(pool) * self.corrupt_share))
            for name in self.rng.sample(pool, k):
                (self.inbox / name).write_bytes(b"PK\x03\x04 this is not a spreadsheet")
        self.files.extend(written)
        return written


def generate_to(cfg: GeneratorConfig, case_db_url: str | None = None, licensing_db_url: str | None = None,
                inbox: str | Path | None = None, manifest: str | Path | None = None,
                apply_all_events: bool = True) -> dict[str, Any]:
    """Generate into the given targets (any may be None to skip it). Returns counts."""
    gen = Generator(cfg)
    case_engine = sa.create_engine(case_db_url) if case_db_url else None
    lic_engine = sa.create_engine(licensing_db_url) if licensing_db_url else None
    if case_engine is not None:
        create_case_schema(case_engine)
        with case_engine.begin() as conn:
            for t in reversed(_CASE_TABLES):
                conn.execute(sa.text(f"DELETE FROM {t}"))
            now = _ts(cfg.start)
            _insert(conn, "enterprise", [{**e, "created_at": now, "updated_at": now} for e in gen.parties.enterprises])
            _insert(conn, "person", [{**p, "created_at": now} for p in gen.parties.persons])
            supervision = supervision_rows(gen)
            for table in ("inspector", "accident", "inspection"):
                for i in range(0, len(supervision[table]), 5000):
                    _insert(conn, table, supervision[table][i:i + 5000])
    if lic_engine is not None:
        from creditflow_sandbox.licensing import metadata as lic_meta
        from creditflow_sandbox.licensing import upsert_licences

        lic_meta.create_all(lic_engine)
    inbox_path = Path(inbox) if inbox else None
    if inbox_path:
        inbox_path.mkdir(parents=True, exist_ok=True)
    writer = _DistrictWriter(inbox_path, gen.rng, cfg.corrupt_file_share) if inbox_path else None
    mf = open(manifest, "w", encoding="utf-8") if manifest else None  # noqa: SIM115 — streamed
    counts: dict[str, Any] = {"decisions": 0, "case_penalty": 0, "case_coercion": 0, "licensing": 0, "district": 0,
                              "events": 0}
    buffers: dict[str, list[dict[str, Any]]] = {"enforcement_case": [], "penalty_decision": [],
                                                "coercive_measure": [], "licences": []}
    all_events: list[dict[str, Any]] = []
    overrides: list[dict[str, Any]] = []

    def flush() -> None:
        if case_engine is not None:
            with case_engine.begin() as conn:
                for t in ("enforcement_case", "penalty_decision", "coercive_measure"):
                    _insert(conn, t, buffers[t])
        if lic_engine is not None and buffers["licences"]:
            upsert_licences(lic_engine, buffers["licences"])
        for b in buffers.values():
            b.clear()

    current_day = None
    try:
        for d in gen.iter_decisions():
            day = d["manifest"]["decision_date"]
            if writer is not None and day != current_day:
                writer.flush(before=day)  # rows arriving before this decision day are complete
                current_day = day
            counts["decisions"] += 1
            counts[d["type"]] += 1
            late_insert = any(e.get("op") == "insert" for e in d.get("events", []))
            if d["type"] in ("case_penalty", "case_coercion") and not late_insert:
                buffers["enforcement_case"].append(d["case"])
                table = "penalty_decision" if d["type"] == "case_penalty" else "coercive_measure"
                row = dict(d["row"])
                if d.get("uscc_override"):  # this decision's party has a mistyped code in the case file
                    row["_uscc_override"] = d["uscc_override"]
                buffers[table].append({k: v for k, v in row.items() if not k.startswith("_")})
                if d.get("uscc_override"):
                    overrides.append({"key": d["case"]["case_id"], "uscc": d["uscc_override"]})
            if d["type"] in ("case_penalty", "case_coercion"):
                all_events.extend(d["events"])
            elif d["type"] == "licensing":
                buffers["licences"].append(d["item"])
            elif writer is not None:
                writer.add(d["district"], d["day"], d["std"])
            if mf:
                mf.write(json.dumps(d["manifest"], ensure_ascii=False, default=str) + "\n")
            if sum(len(b) for b in buffers.values()) >= cfg.chunk:
                flush()
        flush()
        if writer is not None:
            writer.flush()
            counts["files"] = len(writer.files)
    finally:
        if mf:
            mf.close()
    if case_engine is not None:
        _apply_overrides(case_engine, overrides)
    timed = sorted(all_events, key=lambda e: e["at"])
    counts["events"] = len(timed)
    if case_engine is not None and apply_all_events:
        apply_events(case_engine, timed, until=None)
    counts["events_pending"] = 0 if apply_all_events else len(timed)
    return counts


def _apply_overrides(engine: sa.Engine, overrides: list[dict[str, Any]]) -> None:
    """A party whose code was mistyped *in this case*: the case points at its own enterprise row."""
    with engine.begin() as conn:
        for o in overrides:
            case = conn.execute(sa.text("SELECT ent_id FROM enforcement_case WHERE case_id = :c"),
                                {"c": o["key"]}).first()
            if case is None:  # a late entry: its case row arrives with the insert event
                continue
            ent = conn.execute(sa.text("SELECT * FROM enterprise WHERE ent_id = :e"), {"e": case[0]}).mappings().first()
            row = dict(ent or {})
            row.update(ent_id="X" + o["key"][1:], uscc=o["uscc"])
            _insert(conn, "enterprise", [row])
            conn.execute(sa.text("UPDATE enforcement_case SET ent_id = :n WHERE case_id = :c"),
                         {"n": row["ent_id"], "c": o["key"]})


def _typed(key: str, value: Any) -> Any:
    if isinstance(value, str) and (key.endswith("_at")):
        return dt.datetime.fromisoformat(value)
    if isinstance(value, str) and (key.endswith("_date") or key == "effect_until"):
        return dt.date.fromisoformat(value)
    return value


def apply_events(engine: sa.Engine, events: list[dict[str, Any]], until: dt.datetime | None) -> int:
    """Apply the case-system events with ``at`` ≤ ``until`` (all when None); returns how many.

    An event is an update (``table``, ``key``, ``set``) or a late insert (``op: insert``, ``rows``).
    Applying the same event twice is harmless (updates set values; inserts skip existing keys).
    """
    keys = {"penalty_decision": "decision_id", "coercive_measure": "measure_id", "enforcement_case": "case_id"}
    done = 0
    with engine.begin() as conn:
        for e in sorted(events, key=lambda e: str(e["at"])):
            at = e["at"] if isinstance(e["at"], dt.datetime) else dt.datetime.fromisoformat(e["at"])
            if until is not None and at > until:
                continue
            if e.get("op") == "insert":
                for table in ("enforcement_case", "penalty_decision", "coercive_measure"):
                    for row in e["rows"].get(table, []):
                        exists = conn.execute(sa.text(f"SELECT 1 FROM {table} WHERE {keys[table]} = :k"),
                                              {"k": row[keys[table]]}).first()
                        if not exists:
                            _insert(conn, table, [{k: _typed(k, v) for k, v in row.items()}])
            else:
                sets = ", ".join(f"{k} = :{k}" for k in e["set"])
                values = {k: _typed(k, v) for k, v in e["set"].items()}
                conn.execute(sa.text(f"UPDATE {e['table']} SET {sets} WHERE {keys[e['table']]} = :_key"),
                             {**values, "_key": e["key"]})
            done += 1
    return done


def events_of(manifest: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted((e for m in manifest for e in m.get("events", [])), key=lambda e: e["at"])


def read_manifest(path: str | Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]

