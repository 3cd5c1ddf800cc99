"""Posting: put each drafted invoice into the accounting system exactly once.

Order of defence against duplicates:
1. the sync ledger (operational store) says the key is posted → skip;
2. the accounting system already holds a live invoice with our reference → record it, skip
   (recovers a crash between the POST and recording its result);
3. otherwise create, in batches of up to 50, with an Idempotency-Key derived from the
   batch's business keys and payloads (a retried request replays, never duplicates).
"""

from __future__ import annotations

import hashlib
import logging
from datetime import date, timedelta
from typing import Any

import pandas as pd

from sync_pipeline.connectors.http import PermanentError
from sync_pipeline.connectors.xero import MAX_BATCH, XeroClient, contact_payload, invoice_payload
from sync_pipeline.contracts.codec import dumps
from sync_pipeline.contracts.mapping import EntityConfig
from sync_pipeline.domain import ids
from sync_pipeline.domain.billing import invoice_headers
from sync_pipeline.domain.money import to_minor
from sync_pipeline.domain.periods import Period, is_closed
from sync_pipeline.store.operational import OperationalStore

log = logging.getLogger(__name__)


def ensure_contact(xero: XeroClient, store: OperationalStore, entity: EntityConfig, client_id: str,
                   client_name: str, currency: str) -> str:
    known = store.contact_for(entity.key, client_id)
    if known:
        return known
    number = ids.contact_number("harvest", client_id)
    found = xero.find_contact_by_number(number)
    if found is None:
        created = xero.create_contacts([contact_payload(client_name, number, currency)],
                                       idempotency_key=f"contact-{entity.key}-{client_id}")
        item = created[0]
        if item.get("HasErrors"):
            msgs = "; ".join(e.get("Message", "") for e in item.get("ValidationErrors", []))
            raise PermanentError(f"cannot create contact for client {client_id} ({client_name}): {msgs}",
                                 system="xero", method="PUT", url="Contacts")
        found = item
    store.remember_contact(entity.key, client_id, found["ContactID"], number)
    return found["ContactID"]


def _result(inv: dict[str, Any], entity: str, period: str, outcome: str, doc: dict[str, Any] | None = None,
            error: str | None = None) -> dict[str, Any]:
    ccy = inv["currency"]
    return {
        "entity": entity, "period": period, "invoice_key": inv["invoice_key"], "reference": inv["reference"],
        "client_id": inv["client_id"], "currency": ccy, "outcome": outcome,
        "invoice_id": doc.get("InvoiceID") if doc else None,
        "invoice_number": doc.get("InvoiceNumber") if doc else None,
        "status": doc.get("Status") if doc else None,
        "subtotal_minor": to_minor(doc["SubTotal"], ccy) if doc else None,
        "total_tax_minor": to_minor(doc["TotalTax"], ccy) if doc else None,
        "total_minor": to_minor(doc["Total"], ccy) if doc else None,
        "error": error,
    }


def post_invoices(drafts: pd.DataFrame, *, entity: EntityConfig, period: Period, xero: XeroClient,
                  store: OperationalStore, triggered_by: str, today: date | None = None) -> pd.DataFrame:
    invoices = invoice_headers(drafts)
    status = "AUTHORISED" if is_closed(period, entity.timezone) else "DRAFT"
    inv_date = min(period.end, today) if today else period.end
    due = inv_date + timedelta(days=entity.payment_terms_days)
    results: list[dict[str, Any]] = []
    pending: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for inv in invoices:
        entry = store.ledger_entry(inv["invoice_key"])
        if entry and entry["status"] == "posted":
            doc = xero.find_invoice_by_reference(inv["reference"])
            results.append(_result(inv, entity.key, period.key, "already_posted", doc))
            continue
        doc = xero.find_invoice_by_reference(inv["reference"])
        if doc is not None:
            if entry is None:
                store.record_pending(invoice_key=inv["invoice_key"], entity=entity.key, period=period.key,
                                     client_id=inv["client_id"], revision=1, reference=inv["reference"],
                                     payload_hash="", idempotency_key="", triggered_by=triggered_by)
            store.record_posted(inv["invoice_key"], doc["InvoiceID"], doc.get("InvoiceNumber"))
            results.append(_result(inv, entity.key, period.key, "found_in_target", doc))
            continue
        contact_id = ensure_contact(xero, store, entity, inv["client_id"], inv["client_name"], inv["currency"])
        payload = invoice_payload(contact_id=contact_id, reference=inv["reference"], currency=inv["currency"],
                                  date=inv_date.isoformat(), due_date=due.isoformat(), status=status,
                                  lines=inv["lines"])
        pending.append((inv, payload))

    for start in range(0, len(pending), MAX_BATCH):
        batch = pending[start:start + MAX_BATCH]
        digest = hashlib.sha256()
        for inv, payload in batch:
            digest.update(inv["invoice_key"].encode())
            digest.update(dumps(payload))
        idem = f"inv-batch-{digest.hexdigest()[:40]}"
        for inv, payload in batch:
            store.record_pending(invoice_key=inv["invoice_key"], entity=entity.key, period=period.key,
                                 client_id=inv["client_id"], revision=1, reference=inv["reference"],
                                 payload_hash=ids.payload_hash(dumps(payload)), idempotency_key=idem,
                                 triggered_by=triggered_by)
        try:
            created = xero.create_invoices([p for _, p in batch], idempotency_key=idem)
        except PermanentError as e:
            for inv, _ in batch:
                results.append(_result(inv, entity.key, period.key, "failed", error=str(e)))
            continue
        for (inv, _), item in zip(batch, created, strict=True):
            if item.get("HasErrors"):
                msgs = "; ".join(v.get("Message", "") for v in item.get("ValidationErrors", []))
                results.append(_result(inv, entity.key, period.key, "failed", error=msgs))
                continue
            store.record_posted(inv["invoice_key"], item["InvoiceID"], item.get("InvoiceNumber"))
            store.audit(triggered_by, "invoice_posted", entity=entity.key, subject=inv["reference"],
                        detail={"invoice_id": item["InvoiceID"], "number": item.get("InvoiceNumber"),
                                "source_entries": [li["source_entry_ids"] for li in inv["lines"]]})
            results.append(_result(inv, entity.key, period.key, "created", item))
    cols = ["entity", "period", "invoice_key", "reference", "client_id", "currency", "outcome", "invoice_id",
            "invoice_number", "status", "subtotal_minor", "total_tax_minor", "total_minor", "error"]
    return pd.DataFrame(results, columns=cols).sort_values("reference").reset_index(drop=True)
