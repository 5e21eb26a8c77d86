"""The 惩戒 → 修复 half of the credit loop, next to the 双公示 pipeline and built on its core.

* ``rules`` — periods, situations, conditions and wording as dated data (``data/credit/``);
* ``candidates`` / ``lifecycle`` — the 安全生产严重失信主体名单 (应急管理部令第11号): candidates, notice,
  objections, decision, publication, expiry, early removal and its revocation, revisits;
* ``penalties`` — every penalty's 信用修复告知书 (两书同达), publicity end and credit repair;
* ``publish`` — listings and withdrawals on the shared credit platform through the ledger, exactly once;
* ``documents`` / ``render`` — the written documents, stored once, rendered to DOCX and PDF;
* ``integrity`` — 诚信审核 (endpoint, CLI, batch); ``impact`` — 处罚前信用影响评估;
* ``roles`` — who may record, propose and approve; ``cli`` — ``creditflow integrity|impact``.

No Airflow imports here: the DAGs (``credit_list``, ``credit_repair``) and the plugin call these functions.
"""
