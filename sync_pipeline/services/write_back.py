"""Two-way sync: what the accounting system settled on our invoices, written back to the project system.

For an entity with ``direction: bidirectional`` (and a source that can take it: ``payment_write_back``), each of
our invoices that has settlements is mirrored as an invoice of the project system under the accounting
document's number (found again by that number, so a retry never makes a second one), and each settlement —
a payment, a credit note, prepayment or overpayment applied — becomes a payment on it whose notes carry the
settlement's id. Idempotent: settlements already written are left alone; one deleted or reversed in the
accounting system is deleted from the project system.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from sync_pipeline.connectors.project import SettlementWriter
from sync_pipeline.domain.money import from_minor

TAG = "sync_pipeline settlement "  # notes of a payment we wrote: the tag, then the settlement id
LIVE_DOCUMENT = {"DRAFT", "SUBMITTED", "AUTHORISED", "PAID"}
SETTLEMENT_WORDS = {"payment": "payment", "credit_note_allocation": "credit note", "refund": "refund",
                    "prepayment_allocation": "prepayment", "overpayment_allocation": "overpayment"}


@dataclass
class WriteBack:
    invoices_created: list[str] = field(default_factory=list)  # document numbers
    payments_written: int = 0
    payments_removed: int = 0
    invoices: int = 0

    def as_metadata(self) -> dict[str, Any]:
        return {"invoices_in_project_system": self.invoices, "invoices_created": len(self.invoices_created),
                "payments_written": self.payments_written, "payments_removed": self.payments_removed,
                **({"created": ", ".join(self.invoices_created)} if self.invoices_created else {})}


def _invoice_body(doc: Any) -> dict[str, Any]:
    total = from_minor(int(doc.total_minor), doc.currency)
    return {"client_id": doc.client_id, "number": doc.number, "currency": doc.currency,
            "subject": f"{doc.number} ({doc.reference})", "issue_date": doc.date, "due_date": doc.due_date,
            "line_items": [{"kind": "Service", "quantity": "1", "unit_price": str(total),
                            "description": f"Invoice {doc.number} as posted to the accounting system"}]}


def _payment_body(s: Any) -> dict[str, Any]:
    what = SETTLEMENT_WORDS.get(s.kind, s.kind)
    return {"amount": str(from_minor(int(s.amount_minor), s.currency)), "paid_date": s.date,
            "notes": f"{what} {s.source_id or ''} in the accounting system; {TAG}{s.settlement_id}".replace("  ", " ")}


def write_back_settlements(writer: SettlementWriter, documents: pd.DataFrame, settlements: pd.DataFrame
                           ) -> WriteBack:
    """Mirror our settled invoices (``accounting_invoices``) and their settlements (``raw_payments``) into the
    project system through ``writer``; see the module's docstring."""
    out = WriteBack()
    ours = documents[(documents["document_kind"] == "invoice") & documents["reference"].notna()
                     & documents["number"].notna() & documents["status"].isin(LIVE_DOCUMENT)]
    on_invoices = settlements[settlements["document_kind"] == "invoice"]
    live = on_invoices[(on_invoices["status"] != "DELETED") & (on_invoices["amount_minor"] > 0)]
    touched = set(on_invoices["document_id"])
    ours = ours[ours["document_id"].isin(touched)]
    if ours.empty:
        return out
    existing = {str(inv.get("number")): inv for page in writer.invoices() for inv in page}
    for doc in ours.itertuples():
        inv = existing.get(str(doc.number))
        mine = live[live["document_id"] == doc.document_id]
        if inv is None:
            if mine.empty:
                continue  # nothing settled and nothing to take back
            inv = writer.create_invoice(_invoice_body(doc))
            out.invoices_created.append(str(doc.number))
        out.invoices += 1
        written = {str(p.get("notes") or "").rpartition(TAG)[2]: p for p in writer.invoice_payments(inv["id"])
                   if TAG in str(p.get("notes") or "")}
        for sid, p in written.items():  # first: what is due goes back up before new payments come off it
            if sid not in set(mine["settlement_id"]):  # deleted or reversed in the accounting system
                writer.delete_invoice_payment(inv["id"], p["id"])
                out.payments_removed += 1
        for s in mine.itertuples():
            if s.settlement_id not in written:
                writer.create_invoice_payment(inv["id"], _payment_body(s))
                out.payments_written += 1
    return out
