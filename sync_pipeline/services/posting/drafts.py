"""The neutral documents a plan's writes send (``contracts.payloads.accounting``), and the keys they go under."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel

from sync_pipeline.contracts.codec import dumps
from sync_pipeline.contracts.payloads.accounting import (
    CreditNoteDraftV2,
    InvoiceDraftV2,
    InvoiceLineV2,
    InvoiceUpdateV1,
    Tracking,
)
from sync_pipeline.domain.invoice_plan import DocOp, GroupPlan, Line


def body(draft: BaseModel | dict[str, Any] | None) -> Any:
    """A draft as JSON-ready data: what the ledger and dead letters keep, and what idempotency keys hash."""
    return draft.model_dump(mode="json", exclude_defaults=True) if isinstance(draft, BaseModel) else draft


def digest_key(prefix: str, keys: list[str], payloads: list[Any]) -> str:
    """An idempotency key from business keys and payloads: the same write again is the same key."""
    h = hashlib.sha256()
    for k, p in zip(keys, payloads, strict=True):
        h.update(k.encode())
        h.update(dumps(body(p)))
    return f"{prefix}-{h.hexdigest()[:40]}"


def line_record(li: Line) -> dict[str, Any]:
    """A line as the posted-lines store, the ledger's manifest and dead letters keep it (with its entries)."""
    return {"fingerprint": li.fingerprint, "description": li.description, "quantity": li.quantity,
            "unit_amount": li.unit_amount, "amount_minor": li.amount_minor, "line_key": li.line_key,
            "source_entry_ids": list(li.source_entry_ids), "approved_by": li.approved_by,
            "approved_at": li.approved_at}


def draft_line(li: Line) -> InvoiceLineV2:
    return InvoiceLineV2(description=li.description, quantity=li.quantity, unit_amount=li.unit_amount,
                         line_amount_minor=li.amount_minor, account_code=li.account_code, tax_type=li.tax_type,
                         tracking=[Tracking(category=c, option=o) for c, o in li.tracking], item_code=li.item_code,
                         tax_amount_minor=li.tax_amount_minor)


def invoice_update(gp: GroupPlan, op: DocOp) -> InvoiceUpdateV1:
    """A void (status only) or a draft's new lines."""
    if op.op == "void_invoice":
        return InvoiceUpdateV1(id=str(op.target_id), status=op.status, currency=gp.currency)  # type: ignore[arg-type]
    return InvoiceUpdateV1(id=str(op.target_id), status=op.status, currency=gp.currency,  # type: ignore[arg-type]
                           line_amount_types=op.line_amount_types,  # type: ignore[arg-type]
                           lines=[draft_line(li) for li in op.lines])


def new_invoice(gp: GroupPlan, op: DocOp, *, contact_id: str, on: date, terms: timedelta,
                status: str) -> InvoiceDraftV2:
    return InvoiceDraftV2(reference=op.reference, contact_id=contact_id, currency=gp.currency, date=on,
                          due_date=on + terms, status=op.status or status,  # type: ignore[arg-type]
                          line_amount_types=op.line_amount_types,  # type: ignore[arg-type]
                          lines=[draft_line(li) for li in op.lines])


def new_credit_note(gp: GroupPlan, op: DocOp, *, contact_id: str, on: date) -> CreditNoteDraftV2:
    return CreditNoteDraftV2(reference=op.reference, contact_id=contact_id, currency=gp.currency, date=on,
                             due_date=on, status=op.status or "AUTHORISED",  # type: ignore[arg-type]
                             line_amount_types=op.line_amount_types,  # type: ignore[arg-type]
                             lines=[draft_line(li) for li in op.lines])
