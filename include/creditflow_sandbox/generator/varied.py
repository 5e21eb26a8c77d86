"""Varied mode: district-style penalty rows in bulk where every party name, code, 文号 and fact is distinct.

The decision stream (:class:`~creditflow_sandbox.generator.decisions.Generator`) draws parties from a
bounded pool and facts from a small vocabulary, which is right for the sandboxes but flatters any cache
keyed on distinct values when a benchmark tiles its output. :func:`varied_district_rows` makes ``n`` rows
the way a district spreadsheet has them (field codes as columns, text cells, the template's units) in one
vectorised pass: each row its own enterprise (or sole trader, or natural person with a valid ID number),
its own 文号, its own fine, its own 违法事实 text, decision dates spread over three years — and the
district-file defects of :data:`~creditflow_sandbox.generator.config.DEFAULT_RATES` plus the writing
variants districts really use (dates as 2026/3/5, 2026年3月5日 or 20260305; amounts with 万元; stray
spaces; lower-case codes; full-width 文号). Deterministic by ``seed``.

Used by ``bench/run.py pipeline --data varied``; not part of the sandboxes' ground truth (no manifest).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from creditflow.core import identifiers as ids

from creditflow_sandbox.generator.config import AUTHORITY_USCC, DEFAULT_RATES, USCC_BODY, vocabulary

# Common characters for names (duplicates dropped at use): an index written in their base is a distinct name part.
_HAN = ("安邦宝北本彬滨博才昌超晨诚成驰崇川创春纯聪达大丹道德登迪鼎东栋都端恩发帆方飞丰峰锋福富刚港高歌"
        "耕功冠光广贵国海瀚航豪浩禾合和河恒宏鸿厚华辉汇惠慧吉佳家嘉坚建健江杰捷金锦进晋京经精景靖静"
        "九久炬聚骏凯康科可克坤蓝朗乐雷立利力联良林霖凌龙隆路伦罗茂美明铭南能宁鹏平朴齐启千谦乾强桥"
        "勤青清庆秋群然仁日荣瑞润森山善尚盛圣石实世仕守书舒顺硕思松泰腾天田通同彤万旺威维伟卫文稳"
        "希喜祥翔信星兴旭轩雅延岩扬洋耀业一怡益逸毅银英盈永优友宇雨禹玉裕元远源月悦越云运泽展章兆哲"
        "臻振正志智中众州洲卓子紫宗祖尊佰采灿常朝辰程楚聪翠岱道登钓栋铎朵梵芳斐奋锋孚甫纲钢格耿"
        "谷冠圭桂果涵翰昊灏和弘虹湖琥桦怀焕璜徽卉吉骥嘉钧楷侃珂琨岚澜朗磊砺琳麟岭珑璐仑珞迈枚敏铭"
        "沐楠霓宁沛琪祺谦倩琴擎琼秋渠荃冉蓉睿瑞三莎杉珊晟拾姝澍朔颂棠韬滕汀彤拓湾婉巍薇炜闻沃熙霞"
        "贤骁晓昕欣馨鑫星杏修旭煦萱璇雪勋雅彦琰晏燕阳瑶烨依弈懿茵寅瀛颖映雍攸瑜昱钰渊媛苑岳钺筠韵")
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈"
_SHOPS = ("五金", "建材", "化工", "物流", "餐饮", "食品", "机械", "电子", "纺织", "印刷", "燃气", "仓储", "汽修",
          "塑料", "家具", "模具", "涂装", "船舶", "酒店", "超市")
_ROADS = ("人民路", "迎宾路", "凤凰路", "九洲大道", "珠海大道", "情侣路", "白石路", "香洲路", "金湾路", "井岸路",
          "南屏路", "前山路", "湾仔路", "明珠路", "翠微路")
_PERSON_REGIONS = ("440402", "440403", "440404", "430102", "450103", "440106", "360102", "440921")


def _encode(values: np.ndarray, alphabet: str, width: int) -> np.ndarray:
    """Each integer written in base ``len(alphabet)`` with ``width`` characters (object array of str)."""
    chars = np.array(list(alphabet), dtype=object)
    base = len(alphabet)
    out = chars[values % base]
    rest = values // base
    for _ in range(width - 1):
        out = chars[rest % base] + out
        rest //= base
    return out


def _org_checks(body: np.ndarray) -> np.ndarray:
    """GB 11714 check characters of 8-character bodies (object array of str)."""
    weights = np.array(ids.ORG_WEIGHTS)
    mat = np.frombuffer("".join(body.tolist()).encode("ascii"), dtype=np.uint8).reshape(-1, 8).astype(np.int64)
    vals = np.where(mat <= ord("9"), mat - ord("0"), mat - ord("A") + 10)
    c = 11 - (vals * weights).sum(axis=1) % 11
    return np.where(c == 10, "X", np.where(c == 11, "0", c.astype(str))).astype(object)


def _uscc_checks(first17: np.ndarray) -> np.ndarray:
    table = np.full(256, 0, dtype=np.int64)
    for i, ch in enumerate(ids.USCC_ALPHABET):
        table[ord(ch)] = i
    mat = np.frombuffer("".join(first17.tolist()).encode("ascii"), dtype=np.uint8).reshape(-1, 17)
    total = (table[mat] * np.array(ids.USCC_WEIGHTS)).sum(axis=1)
    alphabet = np.array(list(ids.USCC_ALPHABET), dtype=object)
    return alphabet[(31 - total % 31) % 31]


def _ric_checks(first17: np.ndarray) -> np.ndarray:
    mat = np.frombuffer("".join(first17.tolist()).encode("ascii"), dtype=np.uint8).reshape(-1, 17)
    total = ((mat.astype(np.int64) - ord("0")) * np.array(ids.RIC_WEIGHTS)).sum(axis=1) % 11
    return np.array(list(ids.RIC_CHECK), dtype=object)[total]


def _fullwidth(values: pd.Series) -> pd.Series:
    table = str.maketrans({c: chr(ord(c) + 0xFEE0) for c in map(chr, range(0x21, 0x7F))})
    return values.str.translate(table)


def varied_district_rows(n: int, seed: int = 1, start: dt.date = dt.date(2024, 1, 1), days: int = 1095,
                         rates: dict[str, float] | None = None, person_share: float = 0.05,
                         sole_trader_share: float = 0.10, offset: int = 0) -> pd.DataFrame:
    """``n`` district-file penalty rows (columns: the CF_ field codes and ``_source_key``), every name, code,
    文号 and fact distinct. ``offset`` numbers the rows (chunks of one data set: ``offset=k*n``)."""
    r = {**DEFAULT_RATES, **(rates or {})}
    rng = np.random.default_rng([seed, offset])
    voc = vocabulary()
    i = np.arange(offset, offset + n, dtype=np.int64)
    districts, violations = voc["districts"], voc["violations"]
    d_idx = rng.integers(0, len(districts), n)
    v_idx = rng.integers(0, len(violations), n)
    kind = rng.random(n)
    person = kind < person_share
    sole = ~person & (kind < person_share + sole_trader_share)
    # Mixed-radix keys: every index gives a distinct name / body (the pool of 400 and 31 characters is
    # shuffled by the seed, so two seeds give two different populations).
    han = "".join(np.random.default_rng(seed).permutation(list(dict.fromkeys(_HAN))))  # distinct characters
    word = _encode(i, han, 3)
    surname = np.array(list(_SURNAMES), dtype=object)[rng.integers(0, len(_SURNAMES), n)]
    shop = np.array(_SHOPS, dtype=object)[rng.integers(0, len(_SHOPS), n)]
    dname = np.array([d["name"] for d in districts], dtype=object)[d_idx]
    dcode = np.array([d["code"] for d in districts], dtype=object)[d_idx]
    org_name = "珠海" + word + shop + "有限公司"
    sole_name = "珠海市" + dname + word + shop + "经营部"
    person_name = surname + _encode(i * 7 + 3, han, 2)
    name = np.where(person, person_name, np.where(sole, sole_name, org_name))
    # USCC: 91/92 + district + "M" + 5 characters of the index + GB 11714 check, then the GB 32100 check
    body = "M" + _encode(i, USCC_BODY.replace("X", ""), 7)  # no X inside the body: it is a check character
    org = body + _org_checks(body)
    ok_org = np.array([all(c in USCC_BODY for c in x) for x in org.tolist()])
    org = np.where(ok_org, org, body + "0")  # a check character outside the alphabet: keep the code valid
    first17 = np.where(sole, "92", "91") + dcode + org
    uscc = first17 + _uscc_checks(first17)
    legal_rep = np.array(list(_SURNAMES), dtype=object)[rng.integers(0, len(_SURNAMES), n)] + _encode(i * 3 + 1, han, 2)
    birth = np.datetime64("1960-01-01") + rng.integers(0, 365 * 45, n).astype("timedelta64[D]")
    birth_text = pd.Series(birth).dt.strftime("%Y%m%d").to_numpy(dtype=object)
    region = np.array(_PERSON_REGIONS, dtype=object)[rng.integers(0, len(_PERSON_REGIONS), n)]
    ric17 = region + birth_text + pd.Series(i % 1000).map("{:03d}".format).to_numpy(dtype=object)
    ric = ric17 + _ric_checks(ric17)
    day = np.datetime64(start) + rng.integers(0, days, n).astype("timedelta64[D]")
    day_s = pd.Series(day)
    iso = day_s.dt.strftime("%Y-%m-%d")
    year = day_s.dt.year.astype(str).to_numpy(dtype=object)
    prefix = np.array([d["doc_prefix"] for d in districts], dtype=object)[d_idx]
    doc_no = prefix + "〔" + year + "〕" + pd.Series(i).map("{:07d}".format).to_numpy(dtype=object) + "号"
    fine = rng.integers(5, 5000, n) * 100  # 500 .. 499,900 元
    warn = rng.random(n) < 0.3
    vtype = np.array([v["type"] for v in violations], dtype=object)[v_idx]
    vfacts = np.array([v["facts"] for v in violations], dtype=object)[v_idx]
    basis = np.array([v["basis"] for v in violations], dtype=object)[v_idx]
    road = np.array(_ROADS, dtype=object)[rng.integers(0, len(_ROADS), n)]
    number = pd.Series(rng.integers(1, 999, n)).astype(str).to_numpy(dtype=object)
    check_no = pd.Series(i).map("JC{:08d}".format).to_numpy(dtype=object)
    facts = (name + "于" + iso.to_numpy(dtype=object) + "在" + dname + road + number + "号接受检查（记录"
             + check_no + "）。" + vfacts.astype(object))
    fine_text = pd.Series(fine).map(lambda y: f"罚款人民币{y}元").to_numpy(dtype=object)
    content = np.where(warn, "警告；" + fine_text, fine_text)
    authority = np.array([d["authority"] for d in districts], dtype=object)[d_idx]
    NONE = np.array(None, dtype=object)  # a missing cell for np.where
    out = pd.DataFrame({
        "CF_XDR_MC": name, "CF_XDR_LB": np.where(person, "自然人", np.where(sole, "个体工商户", "法人及非法人组织")),
        "CF_XDR_SHXYM": np.where(person, NONE, uscc), "CF_FRDB": np.where(person, NONE, legal_rep),
        "CF_XDR_ZJLX": np.where(person, "身份证", NONE), "CF_XDR_ZJHM": np.where(person, ric, NONE),
        "CF_WSH": doc_no, "CF_WFXW": vtype, "CF_SY": facts, "CF_YJ": basis,
        "CF_CFLB": np.where(warn, "警告;罚款", "罚款"), "CF_NR": content,
        "CF_NR_FK": pd.Series(fine / 10000).map("{:g}".format).to_numpy(dtype=object),
        "CF_JDRQ": iso.to_numpy(dtype=object),
        "CF_YXQ": (day_s + pd.Timedelta(days=365)).dt.strftime("%Y-%m-%d").to_numpy(dtype=object),
        "CF_CFJG": authority, "CF_CFJGDM": AUTHORITY_USCC, "CF_SJLY": authority, "CF_SJLYDM": AUTHORITY_USCC,
    })
    # --- defects (rates of the district stream) and writing variants -----------------------------------
    u = rng.random(n)
    edges = np.cumsum([r["missing_required"], r["bad_checksum"], r["yuan_as_wan"], r["malformed_date"],
                       r["fullwidth"]])
    missing = u < edges[0]
    bad_check = (u >= edges[0]) & (u < edges[1]) & ~person
    yuan = (u >= edges[1]) & (u < edges[2])
    malformed = (u >= edges[2]) & (u < edges[3])
    full = (u >= edges[3]) & (u < edges[4])
    out.loc[missing, "CF_YJ"] = None
    wrong = {c: [x for x in USCC_BODY if x != c] for c in USCC_BODY}
    out.loc[bad_check, "CF_XDR_SHXYM"] = [c[:-1] + wrong[c[-1]][k % 30] for k, c in
                                          zip(i[bad_check].tolist(), uscc[bad_check].tolist(), strict=True)]
    out.loc[yuan, "CF_NR_FK"] = pd.Series(fine[yuan]).astype(str).to_numpy()
    bad_day = day_s[malformed]
    out.loc[malformed, "CF_JDRQ"] = (bad_day.dt.strftime("%Y-%m-") + (bad_day.dt.day + 40).astype(str)).to_numpy()
    out.loc[full, "CF_WSH"] = _fullwidth(out.loc[full, "CF_WSH"]).str.replace("〔", "（").str.replace("〕", "）")
    out.loc[full, "CF_XDR_MC"] = " " + out.loc[full, "CF_XDR_MC"].str.replace("有限公司", " 有限公司")
    v = rng.random(n)
    variant = ~(missing | malformed)
    slash = variant & (v < 0.04)
    out.loc[slash, "CF_JDRQ"] = (day_s[slash].dt.year.astype(str) + "/" + day_s[slash].dt.month.astype(str) + "/"
                                 + day_s[slash].dt.day.astype(str)).to_numpy()
    chinese = variant & (v >= 0.04) & (v < 0.07)
    out.loc[chinese, "CF_JDRQ"] = day_s[chinese].dt.strftime("%Y年%m月%d日").to_numpy()
    compact = variant & (v >= 0.07) & (v < 0.09)
    out.loc[compact, "CF_YXQ"] = (day_s[compact] + pd.Timedelta(days=365)).dt.strftime("%Y%m%d").to_numpy()
    wan = ~yuan & (v >= 0.09) & (v < 0.12)
    out.loc[wan, "CF_NR_FK"] = out.loc[wan, "CF_NR_FK"] + "万元"
    lower = ~person & ~bad_check & (v >= 0.12) & (v < 0.14)
    out.loc[lower, "CF_XDR_SHXYM"] = out.loc[lower, "CF_XDR_SHXYM"].str.lower()
    spaced = (v >= 0.14) & (v < 0.18)
    out.loc[spaced, "CF_FRDB"] = out.loc[spaced, "CF_FRDB"].where(out.loc[spaced, "CF_FRDB"].isna(),
                                                                  out.loc[spaced, "CF_FRDB"] + "  ")
    out["_source_key"] = pd.Series(i).map("V{:08d}".format).to_numpy(dtype=object)
    return out
