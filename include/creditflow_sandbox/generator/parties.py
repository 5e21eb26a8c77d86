"""The parties of the decisions: enterprises, sole traders and natural persons with valid identifiers."""

from __future__ import annotations

import datetime as dt
import random
import zlib
from typing import Any

from creditflow.core import identifiers as ids

from creditflow_sandbox.generator.config import USCC_BODY, GeneratorConfig, vocabulary


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
    """The code with a wrong check character — the same wrong one in every process (CRC, not ``hash``)."""
    wrong = [c for c in alphabet if c != code[-1]]
    return code[:-1] + wrong[zlib.crc32(code.encode()) % len(wrong)]


class Parties:
    def __init__(self, rng: random.Random, cfg: GeneratorConfig):
        from faker import Faker

        self.rng = rng
        self.level_rng = random.Random(f"risk-level:{cfg.seed}")
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

    def _risk_level(self, rng: random.Random, high_risk_industry: bool) -> str | None:
        """The safety-risk level the bureau assessed (重大/较大/一般/低; None = not yet assessed). Few units are
        重大 or 较大 — more in the high-risk industries — as in a real register, so the key list the plan
        derives from it has a realistic size. Drawn from its own RNG; the stream's earlier uniform draw is
        kept so that every other generated value stays what it was."""
        rng.choice(["重大", "较大", "一般", "一般", "低"])
        weights = (8, 22, 45, 20, 5) if high_risk_industry else (1, 5, 44, 45, 5)
        return self.level_rng.choices(["重大", "较大", "一般", "低", None], weights)[0]

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
            "risk_level": self._risk_level(rng, bool(ind["key"])),
            "legal_rep": self.fake.name(), "address": self.fake.street_address(),
        }
