"""What the accounting system did with our documents: statuses, payments, credit notes — pulled back incrementally.

Per entity × period, three reads of documents changed since the last pull (a cursor per resource in the
operational store, scoped by the target's system and account, moved to the newest ``updated_at`` seen, so the
server's clock decides): our invoices and our credit notes (reference prefix ``SP-<entity>-<period>-``) and the
account's payments (kept when they settle one of our documents). Targets' clocks and filters have whole seconds,
so each read asks again from the start of the cursor's second and keeps only what differs from what was read
there (``domain/pull_cursor.py``): a change in the cursor's own second is not lost and nothing is read twice. The
changes are merged into the previous snapshot in the warehouse by id, so each run reads only what changed and the
tables always describe everything.

Every document is read strictly first (``AccountingTarget.documents``): one that does not read (an amount as a
string, a null currency, an amount finer than its currency's minor unit, an unknown status ...) is kept out of the
tables and listed in :attr:`PullResult.quarantine` by id, field, value and problem; the others are pulled as usual.

Settlements come from two places: the payments (partial or not, reversed ones as DELETED; refunds of credit
notes) and the invoice itself (credit notes, prepayments — retainer drawdowns — and overpayments applied to it:
its ``allocations``).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd

from sync_pipeline.connectors.accounting import AccountingTarget
from sync_pipeline.connectors.strict import QUARANTINE_COLUMNS, Rejected, quarantine_frame_rows
from sync_pipeline.contracts.accounting import AccountingInvoice, RawCreditNote, RawPayment
from sync_pipeline.contracts.payloads.accounting import AllocationV1, Document
from sync_pipeline.domain import ids
from sync_pipeline.domain.money import to_minor
from sync_pipeline.domain.pull_cursor import Change, Mark, sift, window_start
from sync_pipeline.store.cursors import CursorStore
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.store.warehouse import Warehouse

ASSETS = {"accounting_invoices": AccountingInvoice, "raw_payments": RawPayment, "raw_credit_notes": RawCreditNote}
#: what is pulled incrementally: resource (its cursor, and its count in ``PullResult.changed``) → document kind
RESOURCES = {"invoices": "invoice", "credit_notes": "credit_note", "payments": "payment"}
ALLOCATION_KINDS = {"credit_note": "credit_note_allocation", "prepayment": "prepayment_allocation",
                    "overpayment": "overpayment_allocation"}


def _minor(v: Decimal | None, ccy: str) -> int:
    return to_minor(v or Decimal(0), ccy)


def _iso(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds") if dt else None


def _day(d: date | None) -> str | None:
    return d.isoformat() if d else None


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
    def __init__(self, target: AccountingTarget, store: OperationalStore, wh: Warehouse, entity: str,
                 period: str) -> None:
        self.target, self.store, self.wh, self.entity, self.period = target, store, wh, entity, period
        self.cursors = CursorStore(store.engine)
        self.now = datetime.now(UTC).isoformat(timespec="seconds")
        self.marks: dict[str, Mark] = {}  # per resource read that moved: where the next pull starts
        self.rejected: list[Rejected] = []

    def _resource(self, resource: str) -> str:
        return f"{self.entity}/{self.period}/{resource}"

    def mark(self, resource: str) -> Mark:
        key = (self.target.system, self.target.account_id, self._resource(resource))
        c = self.cursors.get(*key)
        return Mark(datetime.fromisoformat(c.cursor), self.cursors.seen(*key)) if c else Mark()

    def fetch(self, resource: str, reference_prefix: str | None = None) -> list[Document]:
        """The documents changed since the cursor, not read before, that read strictly; the others are set aside,
        named."""
        mark = self.mark(resource)
        listing = self.target.documents(RESOURCES[resource], reference_prefix=reference_prefix,
                                        modified_since=window_start(mark))
        self.rejected.extend(listing.rejected)
        docs = listing.documents
        fresh, after = sift(mark, [Change(d.id, d.updated_at, fingerprint(d)) for d in docs])
        if after != mark:
            self.marks[resource] = after
        return [docs[n] for n in fresh]

    def previous(self, asset: str) -> pd.DataFrame:
        if self.wh.exists(asset, self.entity, self.period):
            return self.wh.read(asset, self.entity, self.period)
        return pd.DataFrame(columns=list(ASSETS[asset].to_schema().columns))

    # -- rows ---------------------------------------------------------------------------------
    def doc_row(self, d: Document) -> dict[str, Any]:
        ccy = str(d.currency)
        p = ids.parse_reference(d.reference or "") or {}
        return {"entity": self.entity, "period": self.period, "document_kind": d.kind, "document_id": d.id,
                "number": d.number, "reference": d.reference, "revision": p.get("revision"),
                "client_id": p.get("client_id"), "contact_id": d.contact_id, "currency": ccy, "status": str(d.status),
                "date": _day(d.date), "due_date": _day(d.due_date), "subtotal_minor": _minor(d.subtotal, ccy),
                "total_tax_minor": _minor(d.total_tax, ccy), "total_minor": _minor(d.total, ccy),
                "amount_paid_minor": _minor(d.amount_paid, ccy), "amount_credited_minor": _minor(d.amount_credited, ccy),
                "amount_due_minor": _minor(d.amount_due, ccy), "fully_paid_on": _day(d.fully_paid_on),
                "updated_at": _iso(d.updated_at) or self.now, "pulled_at": self.now}

    def allocation_row(self, inv: Document, a: AllocationV1) -> dict[str, Any]:
        """A credit note, prepayment (retainer drawdown) or overpayment applied to an invoice."""
        ccy = str(inv.currency)
        amount = _minor(a.amount, ccy)
        return {"entity": self.entity, "period": self.period, "settlement_id": a.id, "kind": ALLOCATION_KINDS[a.kind],
                "document_kind": "invoice", "document_id": inv.id, "document_number": inv.number,
                "reference": inv.reference, "source_id": a.document_id, "date": _day(a.date), "amount_minor": amount,
                "currency": ccy, "currency_rate": None, "status": "AUTHORISED",
                "partial": amount < _minor(inv.total, ccy), "payment_reference": a.number, "bank_account_code": None,
                "updated_at": _iso(inv.updated_at), "pulled_at": self.now}

    def payment_row(self, pm: Document, docs: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
        target = docs.get(pm.invoice_id or "") or docs.get(pm.credit_note_id or "")
        if target is None:
            return None  # settles a document of another partition (or not ours)
        ccy = target["currency"]
        amount = _minor(pm.total, ccy)
        return {"entity": self.entity, "period": self.period, "settlement_id": pm.id,
                "kind": "payment" if target["document_kind"] == "invoice" else "refund",
                "document_kind": target["document_kind"], "document_id": target["document_id"],
                "document_number": target["number"], "reference": target["reference"],
                "source_id": pm.id, "date": _day(pm.date), "amount_minor": amount, "currency": ccy,
                "currency_rate": str(pm.currency_rate) if pm.currency_rate is not None else None,
                "status": pm.status or "AUTHORISED", "partial": amount < int(target["total_minor"]),
                "payment_reference": pm.reference, "bank_account_code": pm.account_code,
                "updated_at": _iso(pm.updated_at), "pulled_at": self.now}

    def cn_row(self, d: Document, ours: bool) -> dict[str, Any]:
        ccy = str(d.currency)
        return {"entity": self.entity, "period": self.period, "credit_note_id": d.id,
                "number": d.number, "reference": d.reference,
                "original_reference": d.reference.rsplit("-CN", 1)[0] if ours and d.reference else None, "ours": ours,
                "contact_id": d.contact_id, "currency": ccy, "status": str(d.status), "date": _day(d.date),
                "subtotal_minor": _minor(d.subtotal, ccy), "total_minor": _minor(d.total, ccy),
                "allocated_minor": sum(_minor(a.amount, ccy) for a in d.allocations),
                "remaining_credit_minor": _minor(d.amount_due, ccy),
                "line_count": len(d.lines), "updated_at": _iso(d.updated_at) or self.now, "pulled_at": self.now}

    # -- the pull -------------------------------------------------------------------------------
    def settlements(self, invoices: list[Document], by_id: dict[str, dict[str, Any]]) -> tuple[pd.DataFrame, int]:
        """Payments (read changed) and allocations (listed on each changed invoice), merged into the snapshot."""
        pays = self.previous("raw_payments")
        changed_inv_ids = {d.id for d in invoices}
        keep = pays[~(pays["kind"].isin(list(ALLOCATION_KINDS.values())) & pays["document_id"].isin(changed_inv_ids))] \
            if len(pays) else pays
        new_rows = [self.allocation_row(d, a) for d in invoices for a in d.allocations if a.kind in ALLOCATION_KINDS]
        payments = self.fetch("payments")
        new_rows += [r for r in (self.payment_row(pm, by_id) for pm in payments) if r is not None]
        return _merge(keep, new_rows, "settlement_id"), len(payments)

    def credit_notes(self, invoices: list[Document], credits: list[Document]) -> pd.DataFrame:
        """Ours, and anyone's applied to our invoices (read by id)."""
        cns = _merge(self.previous("raw_credit_notes"), [self.cn_row(d, True) for d in credits], "credit_note_id")
        known = set(cns["credit_note_id"]) if len(cns) else set()
        foreign = sorted({a.document_id for d in invoices for a in d.allocations
                          if a.kind == "credit_note" and a.document_id and a.document_id not in known})
        if foreign:
            listing = self.target.documents("credit_note", ids=foreign)
            self.rejected.extend(listing.rejected)
            cns = _merge(cns, [self.cn_row(d, False) for d in listing.documents], "credit_note_id")
        return cns

    def run(self) -> PullResult:
        calls0 = self.target.usage().requests
        prefix = ids.reference_prefix(self.entity, self.period)
        invoices, credits = self.fetch("invoices", prefix), self.fetch("credit_notes", prefix)
        docs = _merge(self.previous("accounting_invoices"), [self.doc_row(d) for d in invoices + credits],
                      "document_id")
        pays, n_payments = self.settlements(invoices, {r["document_id"]: r for r in docs.to_dict("records")})
        frames = {"accounting_invoices": docs, "raw_payments": pays, "raw_credit_notes": self.credit_notes(invoices,
                                                                                                            credits)}
        for name, df in frames.items():
            self.wh.write(name, self.entity, self.period, df, ASSETS[name])
        # only now, with the snapshot stored, may the cursors move
        for resource, mark in self.marks.items():
            if mark.at is not None:
                self.cursors.advance(self.target.system, self.target.account_id, self._resource(resource),
                                     mark.at.isoformat(), 1, seen=mark.seen)
        quarantine = pd.DataFrame(quarantine_frame_rows(self.rejected), columns=QUARANTINE_COLUMNS)
        return PullResult(frames, {"invoices": len(invoices), "credit_notes": len(credits), "payments": n_payments},
                          self.target.usage().requests - calls0, quarantine)


def fingerprint(doc: Document) -> str:
    """What a document read back says, hashed: equal for the same content and stamp, else different."""
    return hashlib.sha256(doc.model_dump_json().encode()).hexdigest()


def _merge(previous: pd.DataFrame, rows: list[dict[str, Any]], key: str) -> pd.DataFrame:
    new = pd.DataFrame(rows, columns=previous.columns) if rows else previous.iloc[0:0]
    if not len(previous):
        out = new
    elif not len(new):
        out = previous
    else:
        out = pd.concat([previous[~previous[key].isin(set(new[key]))], new], ignore_index=True)
    return out.sort_values(key).reset_index(drop=True)


def pull_accounting(target: AccountingTarget, store: OperationalStore, wh: Warehouse, entity: str,
                    period: str) -> PullResult:
    """Pull the partition's documents, settlements and credit notes back; write the three warehouse tables."""
    return Puller(target, store, wh, entity, period).run()
