"""The written documents of the credit loop: their content, numbering and storage.

A document is stored once, as the JSON content it is rendered from (``cf_credit_document``: number,
subject, date, SHA-256 of the content), and rendered to DOCX or PDF on request (:mod:`.render`), so a
reprint is identical to the original. Resident ID numbers are masked in the content itself; the content is
stored sealed (SM4-GCM, ``creditflow.core.pii``: it names the party) and opened only to render it for its
party (#19 §3); the SHA-256 is the clear content's.

Types: ``list_notice`` 列入告知书, ``list_decision`` 列入决定书, ``removal_decision`` 提前移出决定书,
``removal_revocation`` 撤销提前移出决定书, ``repair_notice`` 信用修复告知书 (两书同达).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import sqlalchemy as sa

from creditflow.common import mask_id, mask_text
from creditflow.core import pii
from creditflow.core import warehouse as wh
from creditflow.credit import rules
from creditflow.credit.store import opened

TITLES = {
    "list_notice": "安全生产严重失信主体名单列入告知书",
    "list_decision": "安全生产严重失信主体名单列入决定书",
    "removal_decision": "安全生产严重失信主体名单提前移出决定书",
    "removal_revocation": "撤销提前移出决定书",
    "repair_notice": "安全生产行政处罚信息信用修复告知书",
}


def date_zh(day: dt.date | str) -> str:
    d = dt.date.fromisoformat(day) if isinstance(day, str) else day
    return f"{d.year}年{d.month}月{d.day}日"


def party_code_line(party_type: str, code: str | None) -> tuple[str, str]:
    """The party's code line: a natural person's ID number masked, an organisation's USCC in full (``code``: the
    clear code, :func:`creditflow.credit.store.opened`'s ``party_code``)."""
    if party_type == "自然人":
        return ("身份证号码", mask_id(code) if code else "—")
    return ("统一社会信用代码", code or "—")


def _next_doc_no(conn: sa.Connection, doc_type: str, year: int) -> str:
    pattern = rules.documents_config()["doc_no"][doc_type]
    prefix = pattern.split("{seq}")[0].format(year=year)
    d = wh.credit_document
    taken = conn.execute(sa.select(sa.func.count()).select_from(d).where(
        d.c.doc_type == doc_type, d.c.doc_no.like(prefix + "%"))).scalar_one()
    return str(pattern.format(year=year, seq=int(taken) + 1))


def issue(conn: sa.Connection, doc_type: str, subject_id: str, issued_on: dt.date,
          body: dict[str, Any]) -> dict[str, Any]:
    """Number, hash (SHA-256) and store a document (its content sealed); returns the stored row with the clear
    content. ``body`` — built from opened values (:func:`creditflow.credit.store.opened`) — is masked here."""
    doc_no = _next_doc_no(conn, doc_type, issued_on.year)
    content = {"doc_type": doc_type, "title": TITLES[doc_type], "doc_no": doc_no, "issued_on": issued_on.isoformat(),
               "authority": rules.documents_config()["authority_name"], **body}
    text = mask_text(json.dumps(content, ensure_ascii=False, sort_keys=True))
    digest = hashlib.sha256(text.encode()).hexdigest()
    doc_id = f"{doc_type}:{digest[:16]}"
    row = {"doc_id": doc_id, "doc_type": doc_type, "doc_no": doc_no, "subject_id": subject_id,
           "issued_on": issued_on.isoformat(), "content": text, "sha256": digest, "created_at": wh.now_iso()}
    conn.execute(wh.credit_document.insert().values(**{**row, "content": pii.seal(text)}))
    return row


def load(conn: sa.Connection, doc_id: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(wh.credit_document).where(wh.credit_document.c.doc_id == doc_id)).mappings().first()
    if row is None:
        return None
    out = dict(row)
    out["content"] = pii.unseal(out["content"])  # to render it for its party (#19 §3)
    out["body"] = json.loads(out["content"])
    return out


def record_delivery(conn: sa.Connection, doc_id: str, delivered_on: dt.date, method: str, who: str) -> None:
    conn.execute(wh.credit_document.update().where(wh.credit_document.c.doc_id == doc_id).values(
        delivered_on=delivered_on.isoformat(), delivery_method=method, delivered_by=who))


# --- bodies -----------------------------------------------------------------------------------------------
# Every body: addressee, party lines, paragraphs (strings) and numbered lists (heading + items), plus
# ``fields`` — the key facts a test or a clerk checks (dates, periods, basis).


def _party(case: dict[str, Any]) -> dict[str, Any]:
    case = opened(case)  # the party's own document: their clear name, the ID number masked
    return {"addressee": case["party_name"], "party_lines": [("当事人", case["party_name"]),
                                                             party_code_line(case["party_type"], case["party_code"])]}


def list_notice_body(case: dict[str, Any], issued_on: dt.date) -> dict[str, Any]:
    sit = rules.situation(case["situation_id"])
    cfg = rules.documents_config()
    reg = rules.listing()["regulation"]["title_zh"]
    days = rules.deadline("list_objection_period", issued_on).amount
    years = rules.deadline("list_management_period", issued_on).amount
    return {**_party(case), "paragraphs": [
        f"经查，{case['facts']}",
        f"上述行为属于《{reg}》{sit.article}规定的“{sit.title_zh}”情形。依据：{case['basis']}。"
        f"本局拟将你（单位）列入安全生产严重失信主体名单，管理期限为{years}年。",
        cfg["statement_rights_zh"].format(days=days).strip(),
    ], "lists": [{"heading": "列入名单后将依法采取以下管理措施：", "items": rules.measures_zh()}],
        "closing": [f"联系方式：{cfg['contact_zh']}"],
        "fields": {"situation": sit.label, "basis": case["basis"], "objection_days": days,
                   "objection_unit": "工作日", "management_years": years}}


def list_decision_body(case: dict[str, Any], decided_on: dt.date, objections: list[dict[str, Any]]) -> dict[str, Any]:
    sit = rules.situation(case["situation_id"])
    cfg = rules.documents_config()
    reg = rules.listing()["regulation"]["title_zh"]
    end = rules.due("list_management_period", decided_on)
    after = rules.deadline("list_early_removal_after", decided_on).amount
    removal_days = rules.deadline("list_removal_decision", decided_on).amount
    pub_days = rules.deadline("list_publication", decided_on).amount
    heard = [o for o in objections if o["status"] in ("upheld", "rejected")]
    if heard:
        hearing = (f"你（单位）于{date_zh(heard[0]['received_on'])}提出陈述、申辩，本局已进行复核，"
                   f"所提意见不能成立，不予采纳。")
    else:
        hearing = "你（单位）在规定期限内未提出陈述、申辩（或明确放弃陈述、申辩的权利）。"
    notice_no = case.get("notice_doc_no") or ""
    conditions = [c["text_zh"] for c in rules.early_removal_conditions() if c["id"] != "min_time"]
    return {**_party(case), "paragraphs": [
        f"本局于{date_zh(case['notice_delivered_on'])}向你（单位）送达了《{TITLES['list_notice']}》（{notice_no}）。"
        + hearing,
        f"经查，{case['facts']}",
        f"上述行为属于《{reg}》{sit.article}规定的“{sit.title_zh}”情形。依据：{case['basis']}。",
        f"本局决定将你（单位）列入安全生产严重失信主体名单，管理期限自{date_zh(decided_on)}起至{date_zh(end)}止。"
        f"本局将于作出本决定之日起{pub_days}个工作日内通过全国信用信息共享平台、国家企业信用信息公示系统和本局网站公示。",
    ], "lists": [
        {"heading": "管理期限内，依法实施以下联合惩戒措施：", "items": rules.measures_zh()},
        {"heading": f"提前移出：列入名单满{after}个月，且同时符合下列条件的，可以向本局书面申请提前移出：",
         "items": conditions},
        {"heading": "申请程序：", "items": [
            "提交提前移出申请书、履行行政处罚决定的证明材料、消除危害后果的说明及信用承诺书；",
            f"本局自受理之日起{removal_days}个工作日内作出决定，不予移出的书面说明理由；",
            "移出后本局停止公示并解除管理措施。" + str(rules.listing()["early_removal"]["revoked_when_zh"]) + "。"]},
    ], "closing": [cfg["remedies_zh"].strip(), f"联系方式：{cfg['contact_zh']}"],
        "fields": {"situation": sit.label, "basis": case["basis"], "list_start": decided_on.isoformat(),
                   "list_end": end.isoformat(), "early_removal_after_months": after,
                   "publication_working_days": pub_days}}


def removal_body(case: dict[str, Any], request: dict[str, Any], removed_on: dt.date) -> dict[str, Any]:
    checks = json.loads(request.get("checks") or "[]")
    return {**_party(case), "paragraphs": [
        f"你（单位）于{date_zh(request['received_on'])}提出提前移出安全生产严重失信主体名单的申请。",
        f"经审查，你（单位）符合提前移出条件。本局决定自{date_zh(removed_on)}起将你（单位）移出安全生产严重失信主体名单，"
        "停止公示并解除相关管理措施。",
        "如发现以隐瞒真实情况、提供虚假材料等不正当手段取得提前移出的，本局将撤销本决定，恢复列入状态，管理期限按原列入决定计算。",
    ], "lists": [{"heading": "审查情况：",
                  "items": [f"{c['text_zh']}：{'符合' if c['ok'] else '不符合'}（{c['by_zh']}）" for c in checks]}],
        "closing": [rules.documents_config()["remedies_zh"].strip()],
        "fields": {"removed_on": removed_on.isoformat(), "list_end": case["list_end"]}}


def revocation_body(case: dict[str, Any], reason: str, revoked_on: dt.date) -> dict[str, Any]:
    return {**_party(case), "paragraphs": [
        f"本局于{date_zh(case['removed_on'])}决定将你（单位）提前移出安全生产严重失信主体名单。",
        f"经查，{reason}。上述移出系以不正当手段取得，本局决定撤销该移出决定，自{date_zh(revoked_on)}起恢复列入，"
        f"管理期限按原列入决定计算，至{date_zh(case['list_end'])}止。",
    ], "lists": [], "closing": [rules.documents_config()["remedies_zh"].strip()],
        "fields": {"restored_on": revoked_on.isoformat(), "list_end": case["list_end"]}}


def repair_notice_body(penalty: dict[str, Any], pub: rules.Publicity) -> dict[str, Any]:
    cfg = rules.repair_notice()
    text = rules.regime_notice_text(pub.regime_id)
    decided = dt.date.fromisoformat(penalty["decision_date"])
    made = (f"本局于{date_zh(decided)}对你（单位）作出《行政处罚决定书》（{penalty['doc_no']}）。"
            f"根据《{pub.regime_title_zh}》，")
    if pub.published:
        first = made + f"该行政处罚信息将在{cfg['publication_place_zh']}公示。"
        # 民法典 art. 201: the decision day is not counted — the periods start the next day; the minimum period
        # ends at 24:00 of its last day (art. 203), so repair may be requested from the day after.
        start = decided + dt.timedelta(days=1)
        span = [f"最短公示期：自{date_zh(start)}起至{date_zh(pub.min_until)}止；" if pub.min_until
                else "最短公示期：无（本类信息不适用信用修复，公示期满前不得修复）；",
                f"最长公示期：自{date_zh(start)}起至{date_zh(pub.max_until)}止，期满自动停止公示；"]
        if pub.earliest_repair and pub.min_until:
            span.append(f"最短公示期届满后，即自{date_zh(pub.earliest_repair)}起可申请信用修复。")
        elif pub.earliest_repair:
            span.append(f"自{date_zh(pub.earliest_repair)}起可申请信用修复。")
        else:
            span.append("该类行政处罚信息不予修复，公示期满后自动停止公示。")
        if pub.provisional:
            span.append("上述期限按《中华人民共和国民法典》第二百零一条至第二百零三条计算；相关年度节假日安排公布前，"
                        "期限最后一日仅按周末顺延，如遇法定节假日以届时公布的安排为准顺延。")
    else:
        first = made + "该行政处罚信息属于不予公示的情形。"
        span = [text.get("minor_zh", "如主管部门认为确需公示的，公示期不超过三个月。")]
    penalty = opened(penalty)
    return {"addressee": penalty["party_name"],
            "party_lines": [("当事人", penalty["party_name"]),
                            party_code_line(penalty["party_type"], penalty["party_code"]),
                            ("行政处罚决定书文号", penalty["doc_no"]), ("处罚类别", penalty["categories"])],
            "paragraphs": [first], "lists": [
                {"heading": "公示期限：", "items": span},
                {"heading": "信用修复条件（须同时满足）：", "items": list(text["conditions_zh"])},
                {"heading": "修复程序：", "items": [" ".join(str(text["procedure_zh"]).split())]},
                {"heading": "申请渠道：", "items": [str(text["where_zh"])]}],
            "closing": ["本告知书与《行政处罚决定书》同时送达（两书同达）。",
                        f"联系方式：{rules.documents_config()['contact_zh']}"],
            "fields": {"regime": pub.regime_id, "class": pub.penalty_class, "published": pub.published,
                       "publicity_min_until": pub.min_until.isoformat() if pub.min_until else None,
                       "publicity_max_until": pub.max_until.isoformat(),
                       "earliest_repair": pub.earliest_repair.isoformat() if pub.earliest_repair else None}}
