"""Xero as an :class:`~sync_pipeline.connectors.accounting.AccountingTarget`: neutral drafts in, neutral documents
out, Xero's JSON (``client``, ``documents``) and its strict reading (``records``) kept inside this package."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sync_pipeline.connectors.accounting import Capabilities, Listing, PostResult, Usage
from sync_pipeline.connectors.http import PermanentError
from sync_pipeline.connectors.limits import XERO_LIMITS
from sync_pipeline.connectors.xero.client import MAX_BATCH, XeroClient, _q
from sync_pipeline.connectors.xero.documents import (
    COLLECTION,
    ID_FIELD,
    errors_of,
    payload,
    to_document,
    update_payload,
)
from sync_pipeline.connectors.xero.records import SCHEMAS, read_documents
from sync_pipeline.contracts.payloads.accounting import Customer, Document, InvoiceUpdateV1

#: Xero answers up to 1000 documents per page when asked (``pageSize``): one read per partition, usually.
LIST_PAGE_SIZE = 1000
CAPABILITIES = Capabilities(max_batch=MAX_BATCH, max_concurrency=XERO_LIMITS.max_concurrent or 1,
                            page_size=LIST_PAGE_SIZE, partial_batches=True, credit_allocation=True,
                            draft_invoices=True, line_tax_override=True)
#: numbers looked up with ``where`` filters below this many; above it, every contact is listed once
_CONTACT_FILTER_MAX = 20
_PROBE_NUMBER = "sync-pipeline-probe"


class XeroTarget:
    """:class:`~sync_pipeline.connectors.accounting.AccountingTarget` over :class:`XeroClient`."""

    system = "xero"
    name = "Xero"
    capabilities = CAPABILITIES

    def __init__(self, client: XeroClient) -> None:
        self.client = client
        self.account_id = client.tenant_id

    def close(self) -> None:
        self.client.close()

    # -- contacts -------------------------------------------------------------------------------
    def ensure_customer(self, customer: Customer) -> str:
        found = self.client.find_contact_by_number(customer.number)
        if found is not None:
            return found["ContactID"]
        result = self.create("contact", [customer], idempotency_key=f"contact-{customer.number}")[0]
        if not result.ok or result.document is None:
            raise PermanentError(f"cannot create contact {customer.number} ({customer.name}): "
                                 + "; ".join(result.errors), system="xero", method="PUT", url="Contacts")
        return result.document.id

    def find_contacts(self, numbers: Sequence[str]) -> dict[str, Document]:
        wanted = sorted(set(numbers))
        found: dict[str, Document] = {}
        if not wanted:
            return found
        if len(wanted) <= _CONTACT_FILTER_MAX:
            for i in range(0, len(wanted), 10):
                where = " OR ".join(f"ContactNumber=={_q(n)}" for n in wanted[i:i + 10])
                for c in self.client.list_all("Contacts", where=where):
                    found.setdefault(str(c.get("ContactNumber")), to_document("contact", c))
        else:
            for c in self.client.list_all("Contacts", page_size=LIST_PAGE_SIZE):
                if c.get("ContactNumber") in wanted:
                    found.setdefault(str(c["ContactNumber"]), to_document("contact", c))
        return found

    # -- writes ---------------------------------------------------------------------------------
    def _contact(self, draft: Any) -> str | None:
        if getattr(draft, "contact_id", None) or not getattr(draft, "customer", None):
            return getattr(draft, "contact_id", None)
        return self.ensure_customer(draft.customer)

    def _payload(self, kind: str, draft: Any) -> dict[str, Any]:
        return payload(kind, draft, self._contact(draft) if kind in ("invoice", "credit_note") else None)

    def _result(self, kind: str, key: str, item: dict[str, Any], idem: str) -> PostResult:
        errs = errors_of(item)
        ok = not item.get("HasErrors") and not errs and bool(item.get(ID_FIELD[COLLECTION[kind]]))
        if not ok and not errs:
            errs = [f"no {ID_FIELD[COLLECTION[kind]]} returned"]
        return PostResult(key, ok, to_document(kind, item) if ok else None, errs, idem,
                          contact_unknown=any("valid ContactID" in m for m in errs))

    def create(self, kind: str, drafts: Sequence[Any], *, idempotency_key: str) -> list[PostResult]:
        items = self.client.create(COLLECTION[kind], [self._payload(kind, d) for d in drafts], idempotency_key)
        return [self._result(kind, str(n), item, idempotency_key) for n, item in enumerate(items)]

    def post(self, kind: str, records: Sequence[tuple[str, Any]], *, key_prefix: str) -> list[PostResult]:
        payloads = [(key, self._payload(kind, draft)) for key, draft in records]
        out = []
        for r in self.client.write_batches(COLLECTION[kind], payloads, key_prefix=key_prefix):
            if r.document is not None:
                out.append(self._result(kind, r.source_key, r.document, r.idempotency_key))
            else:
                out.append(PostResult(r.source_key, False, None, r.errors, r.idempotency_key,
                                      contact_unknown=any("valid ContactID" in m for m in r.errors)))
        return out

    def update(self, kind: str, changes: Sequence[InvoiceUpdateV1], *, idempotency_key: str) -> list[PostResult]:
        if kind != "invoice":
            raise ValueError(f"Xero updates invoices here, not {kind}")
        items = self.client.update("Invoices", [update_payload(c) for c in changes], idempotency_key)
        return [self._result(kind, str(n), item, idempotency_key) for n, item in enumerate(items)]

    def allocate_credit(self, credit_note_id: str, *, invoice_id: str, amount: Decimal, on: date,
                        idempotency_key: str) -> None:
        self.client.allocate_credit_note(credit_note_id, invoice_id=invoice_id, amount=amount, date=on.isoformat(),
                                         idempotency_key=idempotency_key)

    # -- reads ----------------------------------------------------------------------------------
    def find(self, kind: str, *, reference: str | None = None, number: str | None = None) -> Document | None:
        c = self.client
        if kind == "invoice":
            doc = c.find_invoice_by_reference(reference) if reference else c.find_invoice_by_number(number or "")
        elif kind == "credit_note":
            doc = c.find_credit_note_by_reference(reference) if reference else c.find_credit_note_by_number(number or "")
        elif kind == "contact" and number:
            doc = c.find_contact_by_number(number)
        elif reference:
            doc = c._find_live(COLLECTION[kind], f"Reference=={_q(reference)}")
        else:
            raise ValueError(f"look {kind} up by reference")
        return to_document(kind, doc) if doc else None

    def documents(self, kind: str, *, reference_prefix: str | None = None, ids: Sequence[str] = (),
                  statuses: Sequence[str] = (), dated: tuple[date, date] | None = None,
                  direction: str | None = None, modified_since: datetime | None = None) -> Listing:
        coll = COLLECTION[kind]
        where, params, order = _filters(kind, reference_prefix, statuses, dated, direction)
        if ids:
            raw: list[Any] = []
            for i in range(0, len(ids), MAX_BATCH):
                raw += self.client.list_all(coll, params={**params, "IDs": ",".join(ids[i:i + MAX_BATCH])})
        else:
            raw = self.client.list_all(coll, where=" AND ".join(where) or None, order=order, params=params,
                                       modified_since=modified_since, page_size=LIST_PAGE_SIZE)
        return read_listing(kind, raw, statuses)

    def modified_since(self, kind: str, since: datetime | None) -> Iterator[Document]:
        for page in self.client.pages(COLLECTION[kind], modified_since=since):
            for doc in page:
                yield to_document(kind, doc)

    # -- health ---------------------------------------------------------------------------------
    def probe(self) -> None:
        self.client.find_contact_by_number(_PROBE_NUMBER)

    def usage(self) -> Usage:
        http = self.client.http
        remaining = http.limiter.remaining() if http.limiter else []
        return Usage(http.request_count, remaining[0] if remaining else None,
                     remaining[1] if len(remaining) > 1 else None, getattr(http.breaker, "state", None))


def _filters(kind: str, reference_prefix: str | None, statuses: Sequence[str], dated: tuple[date, date] | None,
             direction: str | None) -> tuple[list[str], dict[str, Any], str | None]:
    where, params, order = [], {}, None
    if reference_prefix:
        where.append(f"Reference.StartsWith({_q(reference_prefix)})")
    elif kind == "invoice":
        where.append('Type=="ACCREC"')
    if kind == "bill":
        where.append('Type=="ACCPAY"')
    if direction:
        where.append(f'Type=="{direction.upper()}"')
    if dated:
        s, e = dated
        where.append(f"Date >= DateTime({s.year},{s.month:02d},{s.day:02d}) AND "
                     f"Date <= DateTime({e.year},{e.month:02d},{e.day:02d})")
        order = "Date"
    if statuses and kind in ("invoice", "bill"):  # the spec has Statuses on Invoices only (else: filtered here)
        params["Statuses"] = ",".join(statuses)
    return where, params, order


def read_listing(kind: str, raw: list[Any], statuses: Sequence[str] = ()) -> Listing:
    """Xero documents as a neutral listing, read strictly where the answers must not be guessed at (invoices,
    credit notes, payments): the others are rejected by id, field and problem."""
    coll = COLLECTION[kind]
    rejected, refs = [], {}
    if coll in SCHEMAS and kind != "bill":
        _, rejected = read_documents(coll, raw)
        bad = {r.position for r in rejected}
        for r in rejected:
            doc = raw[r.position - 1] if r.position else None
            ref = doc.get("Reference") if isinstance(doc, dict) else None
            if isinstance(ref, str) and ref:
                refs[r.record] = ref
        raw = [d for n, d in enumerate(raw, start=1) if n not in bad]
    if kind == "invoice":
        raw = [d for d in raw if d.get("Type", "ACCREC") == "ACCREC"]
    docs = [to_document(kind, d) for d in raw]
    if statuses:
        docs = [d for d in docs if d.status in statuses]
    return Listing(docs, rejected, refs)
