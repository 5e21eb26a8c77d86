"""Jinja macros registered by ``plugins/creditflow_plugin.py`` (``{{ macros.creditflow_plugin.<name>(…) }}``)."""

from __future__ import annotations


def sgs_due_date(decision_date: str) -> str:
    """``{{ macros.creditflow_plugin.sgs_due_date('2026-02-12') }}`` — the date (ISO), or 待定（…） with the
    reason while it cannot be computed (:func:`creditflow.core.duedates.sgs_due`)."""
    from creditflow.core.duedates import sgs_due

    return sgs_due(decision_date).label_zh()


#: What the plugin registers (the macro keeps its function name in templates).
MACROS = [sgs_due_date]
