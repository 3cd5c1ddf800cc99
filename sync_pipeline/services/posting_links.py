"""Entry ↔ document links as a warehouse table, and telling the project system what was invoiced."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import sqlalchemy as sa

from sync_pipeline.connectors.harvest import HarvestClient
from sync_pipeline.connectors.http import PermanentError
from sync_pipeline.contracts.posting import PostedEntryLink
from sync_pipeline.store.operational import OperationalStore, sync_ledger
from sync_pipeline.store.posted_lines import PostedLines, entry_links, posted_lines

log = logging.getLogger(__name__)
DEAD = ("VOIDED", "DELETED")


def entry_links_frame(store: OperationalStore, entity: str, period: str) -> pd.DataFrame:
    """One row per (entry, document line): the ``posted_lines`` warehouse table."""
    el, pl, lg = entry_links, posted_lines, sync_ledger
    q = (sa.select(el.c.entity, el.c.period, el.c.entry_id, el.c.role, el.c.doc_key, el.c.line_no, el.c.line_key,
                   el.c.reference, el.c.marked_at, pl.c.kind, pl.c.description, pl.c.quantity, pl.c.unit_amount,
                   pl.c.amount_minor, pl.c.currency, pl.c.approved_by, lg.c.approved_by.label("doc_approved_by"),
                   lg.c.target_number, lg.c.target_id,
                   lg.c.status, lg.c.target_status, lg.c.triggered_by, lg.c.run_id)
         .select_from(el.join(pl, sa.and_(pl.c.doc_key == el.c.doc_key, pl.c.line_no == el.c.line_no))
                      .join(lg, lg.c.invoice_key == el.c.doc_key))
         .where(el.c.entity == entity, el.c.period == period)
         .order_by(el.c.entry_id, el.c.reference, el.c.line_no))
    with store.engine.connect() as c:
        rows = [dict(r) for r in c.execute(q).mappings()]
    out = [{
        "entity": r["entity"], "period": r["period"], "entry_id": r["entry_id"], "role": r["role"],
        "document_key": r["doc_key"], "document_kind": r["kind"], "reference": r["reference"],
        "document_number": r["target_number"], "document_id": r["target_id"], "line_no": int(r["line_no"]),
        "line_key": r["line_key"], "description": r["description"], "quantity": r["quantity"],
        "unit_amount": r["unit_amount"], "line_amount_minor": int(r["amount_minor"]), "currency": r["currency"],
        "live": r["status"] == "posted" and (r["target_status"] or "") not in DEAD,
        "approved_by": r["approved_by"], "document_approved_by": r["doc_approved_by"],
        "triggered_by": r["triggered_by"], "run_id": r["run_id"],
        "marked_in_source_at": r["marked_at"],
    } for r in rows]
    return pd.DataFrame(out, columns=list(PostedEntryLink.to_schema().columns))


def billed_entries(links: pd.DataFrame) -> dict[str, int]:
    """Per entry: live billed links minus live credited links (1 = billed once, 0 = not billed)."""
    out: dict[str, int] = {}
    for r in links[links["live"]].itertuples():
        out[r.entry_id] = out.get(r.entry_id, 0) + (1 if r.role == "billed" else -1)
    return out


def current_documents(links: pd.DataFrame) -> dict[str, str]:
    """Per entry billed now: the reference of the live invoice whose line bills it (not credited since)."""
    live = links[links["live"]]
    credited = {(r.entry_id, r.reference.rsplit("-CN", 1)[0]) for r in live[live["role"] == "credited"].itertuples()}
    out: dict[str, str] = {}
    for r in live[live["role"] == "billed"].itertuples():
        if (r.entry_id, r.reference) not in credited:
            out[r.entry_id] = r.reference
    return out


def is_source_entry_id(entry_id: str) -> bool:
    """A time entry id of the project system (Harvest ids are integers) or one of its expenses
    (``expense:<id>``), as opposed to a fee line's key."""
    return entry_id.isdigit() or (entry_id.startswith("expense:") and entry_id.removeprefix("expense:").isdigit())


def mark_source_entries(harvest: HarvestClient, store: OperationalStore, entity: str, period: str, *,
                        service: str = "xero") -> dict[str, Any]:
    """Tell the project system which entries are invoiced (``is_billed`` and ``external_reference``, whose
    ``service`` names the accounting system: the entity's target).

    Idempotent and resumable: only links not yet marked are sent; an entry billed on a live document
    is marked billed with the document's number, an entry whose billing was credited away is unmarked.
    Entries deleted in the project system are skipped (``missing``). Source ids that are not time entries
    of the project system (``retainer:…``/``milestone:…`` fee lines, rows imported from CSV exports) are
    never sent: there is nothing to mark (``not_in_project_system``).
    """
    links = entry_links_frame(store, entity, period)
    pending = links[links["marked_in_source_at"].isna()]
    if pending.empty:
        return {"marked": 0, "unmarked": 0, "missing": 0, "not_in_project_system": 0}
    net = billed_entries(links)
    docs = {r.reference: r for r in links.itertuples()}
    current: dict[str, dict[str, Any]] = {}
    for entry_id, ref in current_documents(links).items():
        current[entry_id] = {"id": docs[ref].document_id, "group_id": ref, "permalink": None,
                             "service": service, "number": docs[ref].document_number}
    marked = unmarked = missing = foreign = 0
    lines = PostedLines(store)
    for entry_id in sorted(set(pending["entry_id"])):
        if not is_source_entry_id(entry_id):
            foreign += 1
            lines.mark(entity, [entry_id])
            continue
        billed = net.get(entry_id, 0) > 0
        body = {"is_billed": billed, "external_reference": current.get(entry_id) if billed else None}
        try:
            if entry_id.startswith("expense:"):  # an expense line's source (Harvest expenses have no reference)
                harvest.update_expense(entry_id.removeprefix("expense:"), {"is_billed": billed})
            else:
                harvest.update_time_entry(entry_id, body)
        except PermanentError as e:
            if e.status != 404:
                raise
            missing += 1
        else:
            marked += billed
            unmarked += not billed
        lines.mark(entity, [entry_id])
    return {"marked": marked, "unmarked": unmarked, "missing": missing, "not_in_project_system": foreign}
