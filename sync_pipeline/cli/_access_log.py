"""Access logging for the CLI: which commands show financial data, recorded before they run.

``main`` calls :func:`record_view` after signing the caller in; a command listed in :data:`VIEWS` appends an
``access`` event (who, when, what, and the arguments that say which data: entity, period, letter ids …)
to the audit trail. Recorded before the command runs, so a view that fails half-way is still on record.
"""

from __future__ import annotations

import argparse
from typing import Any

#: CLI action → what it shows (the ``action`` of its access event).
VIEWS: dict[str, str] = {
    "posting.plan": "posting_plan",  # documents, lines and totals the plan would write
    "dlq.list": "dlq_list",  # dead letters: references and errors
    "dlq.show": "dead_letter_payload",  # the full payload sent, the source records behind it
    "finance.versions": "finance_allocation_versions",
    "finance.reproduce": "finance_allocation_reproduce",  # the allocated amounts of a stored version
    "hours.review": "hours_review",  # held person-days: who worked how long on which day
    "archive.read": "archive_read",  # an archived period's documents and amounts
}

#: argument names that say which data was looked at, copied into the event's detail
SELECTORS = ("entity", "period", "id", "ids", "status", "version", "stream", "table")


def record_view(args: argparse.Namespace, action: str, store_url: str | None = None) -> None:
    """Append the access event of a view command (no-op for any other command)."""
    what = VIEWS.get(action)
    if what is None:
        return
    from sync_pipeline.cli._identity import _store
    from sync_pipeline.defs import settings
    from sync_pipeline.store import audit

    actor = getattr(args, "actor", None)
    selected: dict[str, Any] = {k: getattr(args, k) for k in SELECTORS if getattr(args, k, None) not in (None, [])}
    subject = " ".join(f"{k}={v}" for k, v in selected.items()) or "all"
    audit.record_access(_store(store_url or settings.operational_store_url()),
                        actor=actor.name if actor is not None else audit.current_actor(), what=what,
                        subject=subject[:255], entity=selected.get("entity"),
                        detail={"command": action.replace(".", " "), **selected})
