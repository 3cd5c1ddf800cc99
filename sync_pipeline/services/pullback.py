"""What the accounting system did with our documents: statuses, payments, credit notes — pulled back incrementally.

Per entity × period, three reads with ``If-Modified-Since`` (cursor per resource in the operational store,
moved to the newest ``UpdatedDateUTC`` seen, so the server's clock decides and nothing is skipped):
our invoices and our credit notes (reference prefix ``SP-<entity>-<period>-``) and the tenant's payments
(kept when they settle one of our documents). The changes are merged into the previous snapshot in the
warehouse by id, so each run reads only what changed and the tables always describe everything.

Every document is read strictly first (``connectors.xero.records``): one that does not read (an amount as a
string, a null currency, an amount finer than its currency's minor unit, an unknown status ...) is kept out of the
tables and listed in :attr:`PullResult.quarantine` by id, field, value and problem; the others are pulled as usual.

Settlements come from two places: ``/Payments`` (payments, partial or not, reversed ones as DELETED;
refunds of credit notes) and the invoice itself (credit notes, prepayments — retainer drawdowns — and
overpayments applied to it, which Xero lists on the invoice).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pandas as pd

from sync_pipeline.connectors.strict import QUARANTINE_COLUMNS, Rejected, quarantine_frame_rows
from sync_pipeline.connectors.xero import XeroClient, parse_xero_date
from sync_pipeline.connectors.xero.records import read_documents
from sync_pipeline.contracts.accounting import AccountingInvoice, RawCreditNote, RawPayment
from sync_pipeline.domain import ids
from sync_pipeline.domain.money import to_minor
from sync_pipeline.store.cursors import CursorStore
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.store.warehouse import Warehouse

PAGE = 1000
ASSETS = {"accounting_invoices": AccountingInvoice, "raw_payments": RawPayment, "raw_credit_notes": RawCreditNote}


def _date(doc: dict[str, Any], field: str) -> str | None:
    s = doc.get(f"{field}String")
    if isinstance(s, str) and len(s) >= 10:
        return s[:10]
    d = parse_xero_date(doc.get(field)) if isinstance(doc.get(field), str) else None
    return d.date().isoformat() if d else None


def _updated(doc: dict[str, Any]) -> datetime | None:
    v = doc.get("UpdatedDateUTC")
    return parse_xero_date(v) if isinstance(v, str) else None


def _minor(v: Any, ccy: str) -> int:
    return to_minor(Decimal(str(v or 0)), ccy)


def _iso(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds") if dt else None


@dataclass
class PullResult:
    frames: dict[str, pd.DataFrame]
    changed: dict[str, int]  # per resource: documents the server reported changed
    api_calls: int
    # documents that did not read strictly (kept out of the tables), one row per problem: source, record, row, field,
    # value, problem; the pull-back asset writes them to accounting_quarantine
    quarantine: pd.DataFrame = dataclasses.field(default_factory=lambda: pd.DataFrame(columns=QUARANTINE_COLUMNS))

    @property
    def quarantined(self) -> int:
        return int(self.quarantine[["source", "record"]].drop_duplicates().shape[0]) if len(self.quarantine) else 0


class Puller:
    def __init__(self, xero: XeroClient, store: OperationalStore, wh: Warehouse, entity: str, period: str) -> None:
        self.xero, self.store, self.wh, self.entity, self.period = xero, store, wh, entity, period
        self.cursors = CursorStore(store.engine)
        self.now = datetime.now(UTC).isoformat(timespec="seconds")
        self.seen: dict[str, datetime] = {}
        self.rejected: list[Rejected] = []

    def _resource(self, coll: str) -> str:
        return f"{self.entity}/{self.period}/{coll}"

    def since(self, coll: str) -> datetime | None:
        c = self.cursors.get("xero", self.xero.tenant_id, self._resource(coll))
        return datetime.fromisoformat(c.cursor) if c else None

    def read(self, coll: str, docs: list[Any]) -> list[dict[str, Any]]:
        """The documents that read strictly (``connectors.xero.records``); the others are set aside, named."""
        typed, rejected = read_documents(coll, docs)
        self.rejected.extend(rejected)
        return typed

    def fetch(self, coll: str, where: str | None = None) -> list[dict[str, Any]]:
        since = self.since(coll)
        docs = self.read(coll, self.xero.list_all(coll, where=where, modified_since=since, page_size=PAGE))
        if since is not None:
            # If-Modified-Since has whole seconds: what changed in the cursor's own second comes again
            docs = [d for d in docs if (_updated(d) or since) > since or _updated(d) is None]
        stamps = [u for u in (_updated(d) for d in docs) if u]
        if stamps:
            self.seen[coll] = max(stamps)
        return docs

    def previous(self, asset: str) -> pd.DataFrame:
        if self.wh.exists(asset, self.entity, self.period):
            return self.wh.read(asset, self.entity, self.period)
        return pd.DataFrame(columns=list(ASSETS[asset].to_schema().columns))

    # -- rows ---------------------------------------------------------------------------------
    def doc_row(self, d: dict[str, Any], kind: str) -> dict[str, Any]:
        ccy = str(d.get("CurrencyCode"))
        p = ids.parse_reference(str(d.get("Reference") or "")) or {}
        total = _minor(d.get("Total"), ccy)
        if kind == "invoice":
            paid, credited, due = _minor(d.get("AmountPaid"), ccy), _minor(d.get("AmountCredited"), ccy), \
                _minor(d.get("AmountDue"), ccy)
        else:
            due = _minor(d.get("RemainingCredit"), ccy)
            credited = sum(_minor(a.get("Amount"), ccy) for a in d.get("Allocations") or [])
            paid = sum(_minor(pm.get("Amount"), ccy) for pm in d.get("Payments") or [])
        return {"entity": self.entity, "period": self.period, "document_kind": kind,
                "document_id": str(d["InvoiceID" if kind == "invoice" else "CreditNoteID"]),
                "number": d.get("InvoiceNumber" if kind == "invoice" else "CreditNoteNumber"),
                "reference": d.get("Reference"), "revision": p.get("revision"), "client_id": p.get("client_id"),
                "contact_id": (d.get("Contact") or {}).get("ContactID"), "currency": ccy, "status": str(d.get("Status")),
                "date": _date(d, "Date"), "due_date": _date(d, "DueDate"),
                "subtotal_minor": _minor(d.get("SubTotal"), ccy), "total_tax_minor": _minor(d.get("TotalTax"), ccy),
                "total_minor": total, "amount_paid_minor": paid, "amount_credited_minor": credited,
                "amount_due_minor": due, "fully_paid_on": _date(d, "FullyPaidOnDate"),
                "updated_at": _iso(_updated(d)) or self.now, "pulled_at": self.now}

    def allocation_rows(self, inv: dict[str, Any]) -> list[dict[str, Any]]:
        """Credit notes, prepayments (retainer drawdowns) and overpayments applied to an invoice."""
        ccy, total = str(inv.get("CurrencyCode")), _minor(inv.get("Total"), str(inv.get("CurrencyCode")))
        rows = []
        for field, kind, id_field in (("CreditNotes", "credit_note_allocation", "CreditNoteID"),
                                      ("Prepayments", "prepayment_allocation", "PrepaymentID"),
                                      ("Overpayments", "overpayment_allocation", "OverpaymentID")):
            for n, a in enumerate(inv.get(field) or [], start=1):
                amount = _minor(a.get("AppliedAmount", a.get("Amount")), ccy)
                sid = a.get("AllocationID") or f"{inv['InvoiceID']}:{id_field}:{a.get(id_field)}:{n}"
                rows.append({"entity": self.entity, "period": self.period, "settlement_id": str(sid), "kind": kind,
                             "document_kind": "invoice", "document_id": str(inv["InvoiceID"]),
                             "document_number": inv.get("InvoiceNumber"), "reference": inv.get("Reference"),
                             "source_id": a.get(id_field), "date": _date(a, "Date"), "amount_minor": amount,
                             "currency": ccy, "currency_rate": None, "status": "AUTHORISED",
                             "partial": amount < total, "payment_reference": a.get(f"{id_field[:-2]}Number"),
                             "bank_account_code": None, "updated_at": _iso(_updated(inv)), "pulled_at": self.now})
        return rows

    def payment_row(self, pm: dict[str, Any], docs: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
        inv, cn = pm.get("Invoice") or {}, pm.get("CreditNote") or {}
        target = docs.get(str(inv.get("InvoiceID") or "")) or docs.get(str(cn.get("CreditNoteID") or ""))
        if target is None:
            return None  # settles a document of another partition (or not ours)
        ccy = target["currency"]
        amount = _minor(pm.get("Amount"), ccy)
        return {"entity": self.entity, "period": self.period, "settlement_id": str(pm["PaymentID"]),
                "kind": "payment" if target["document_kind"] == "invoice" else "refund",
                "document_kind": target["document_kind"], "document_id": target["document_id"],
                "document_number": target["number"], "reference": target["reference"],
                "source_id": str(pm["PaymentID"]), "date": _date(pm, "Date"), "amount_minor": amount,
                "currency": ccy, "currency_rate": str(pm["CurrencyRate"]) if pm.get("CurrencyRate") is not None else None,
                "status": str(pm.get("Status") or "AUTHORISED"), "partial": amount < int(target["total_minor"]),
                "payment_reference": pm.get("Reference"), "bank_account_code": (pm.get("Account") or {}).get("Code"),
                "updated_at": _iso(_updated(pm)), "pulled_at": self.now}

    def cn_row(self, d: dict[str, Any], ours: bool) -> dict[str, Any]:
        ccy = str(d.get("CurrencyCode"))
        ref = d.get("Reference")
        return {"entity": self.entity, "period": self.period, "credit_note_id": str(d["CreditNoteID"]),
                "number": d.get("CreditNoteNumber"), "reference": ref,
                "original_reference": str(ref).rsplit("-CN", 1)[0] if ours and ref else None, "ours": ours,
                "contact_id": (d.get("Contact") or {}).get("ContactID"), "currency": ccy, "status": str(d.get("Status")),
                "date": _date(d, "Date"), "subtotal_minor": _minor(d.get("SubTotal"), ccy),
                "total_minor": _minor(d.get("Total"), ccy),
                "allocated_minor": sum(_minor(a.get("Amount"), ccy) for a in d.get("Allocations") or []),
                "remaining_credit_minor": _minor(d.get("RemainingCredit"), ccy),
                "line_count": len(d.get("LineItems") or []), "updated_at": _iso(_updated(d)) or self.now,
                "pulled_at": self.now}

    # -- the pull -------------------------------------------------------------------------------
    def run(self) -> PullResult:
        calls0 = self.xero.http.request_count
        where = f'Reference.StartsWith("{ids.reference_prefix(self.entity, self.period)}")'
        invoices = self.fetch("Invoices", where)
        credits = self.fetch("CreditNotes", where)
        docs = self.previous("accounting_invoices")
        changed_docs = [self.doc_row(d, "invoice") for d in invoices] + [self.doc_row(d, "credit_note")
                                                                          for d in credits]
        docs = _merge(docs, changed_docs, "document_id")
        by_id = {r["document_id"]: r for r in docs.to_dict("records")}
        # settlements: payments (from /Payments) and allocations (listed on each changed invoice)
        pays = self.previous("raw_payments")
        changed_inv_ids = {str(d["InvoiceID"]) for d in invoices}
        keep = pays[~(pays["kind"].isin(["credit_note_allocation", "prepayment_allocation", "overpayment_allocation"])
                      & pays["document_id"].isin(changed_inv_ids))] if len(pays) else pays
        new_rows = [r for d in invoices for r in self.allocation_rows(d)]
        payments = self.fetch("Payments")
        new_rows += [r for r in (self.payment_row(pm, by_id) for pm in payments) if r is not None]
        pays = _merge(keep, new_rows, "settlement_id")
        # credit notes: ours, and anyone's applied to our invoices
        cns = _merge(self.previous("raw_credit_notes"), [self.cn_row(d, True) for d in credits], "credit_note_id")
        known = set(cns["credit_note_id"]) if len(cns) else set()
        foreign = sorted({str(a.get("CreditNoteID")) for d in invoices for a in d.get("CreditNotes") or []
                          if a.get("CreditNoteID") and str(a.get("CreditNoteID")) not in known})
        for i in range(0, len(foreign), 50):
            got = self.read("CreditNotes", self.xero.list_all("CreditNotes", params={"IDs": ",".join(foreign[i:i + 50])}))
            cns = _merge(cns, [self.cn_row(d, False) for d in got], "credit_note_id")
        frames = {"accounting_invoices": docs, "raw_payments": pays, "raw_credit_notes": cns}
        for name, df in frames.items():
            self.wh.write(name, self.entity, self.period, df, ASSETS[name])
        # only now, with the snapshot stored, may the cursors move
        for coll, stamp in self.seen.items():
            self.cursors.advance("xero", self.xero.tenant_id, self._resource(coll), stamp.isoformat(), 1)
        quarantine = pd.DataFrame(quarantine_frame_rows(self.rejected), columns=QUARANTINE_COLUMNS)
        return PullResult(frames, {"Invoices": len(invoices), "CreditNotes": len(credits), "Payments": len(payments)},
                          self.xero.http.request_count - calls0, quarantine)


def _merge(previous: pd.DataFrame, rows: list[dict[str, Any]], key: str) -> pd.DataFrame:
    new = pd.DataFrame(rows, columns=previous.columns) if rows else previous.iloc[0:0]
    if not len(previous):
        out = new
    elif not len(new):
        out = previous
    else:
        out = pd.concat([previous[~previous[key].isin(set(new[key]))], new], ignore_index=True)
    return out.sort_values(key).reset_index(drop=True)


def pull_accounting(xero: XeroClient, store: OperationalStore, wh: Warehouse, entity: str, period: str) -> PullResult:
    """Pull the partition's documents, settlements and credit notes back; write the three warehouse tables."""
    return Puller(xero, store, wh, entity, period).run()
