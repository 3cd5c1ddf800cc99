"""Xero Accounting API target.

OAuth2 client-credentials token (refreshed a minute before it expires, and once more if the API
answers 401); contacts, invoices, credit notes, payments and bank transactions; lookups by
reference or number; ``If-Modified-Since`` polling; every write carries an ``Idempotency-Key``;
batch writes of up to 50 use ``summarizeErrors=false`` so each item reports its own validation
errors, and :meth:`XeroClient.write_batches` maps each result back to its source record.
Rate limits (60/min, 5,000/day, 5 concurrent) are enforced client-side by the shared HTTP layer.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from sync_pipeline.connectors import redaction
from sync_pipeline.connectors.http import AuthError, HttpClient, PermanentError
from sync_pipeline.connectors.limits import XERO_LIMITS, CircuitBreaker, RateLimiter
from sync_pipeline.connectors.xero.outbound import check_write, contact_name, item_problems, line_description
from sync_pipeline.contracts.codec import dumps

API = "/api.xro/2.0"
PAGE_SIZE = 100
MAX_BATCH = 50


def _q(value: str) -> str:
    """Quote a string for a Xero ``where`` filter."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class XeroClient:
    def __init__(self, base_url: str, client_id: str, client_secret: str, tenant_id: str, *,
                 token_url: str | None = None, timeout: float = 30.0, max_attempts: int = 5,
                 transport: httpx.BaseTransport | None = None, limiter: RateLimiter | None = None,
                 breaker: CircuitBreaker | None = None) -> None:
        base = base_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        redaction.register_secret(client_secret)
        self._token_url = token_url or f"{base}/connect/token"
        self._token: str | None = None
        self._token_expiry = 0.0
        self._lock = threading.Lock()
        self.tenant_id = tenant_id
        self.http = HttpClient(system="xero", base_url=base, timeout=timeout, max_attempts=max_attempts,
                               transport=transport, limits=XERO_LIMITS, limiter=limiter, breaker=breaker)
        self._auth_http = HttpClient(system="xero-identity", base_url=base, timeout=timeout,
                                     max_attempts=max_attempts, transport=transport)

    def close(self) -> None:
        self.http.close()
        self._auth_http.close()

    # -- auth -------------------------------------------------------------------------------
    def _bearer(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() > self._token_expiry - 60:
                body = self._auth_http.json(
                    "POST", self._token_url,
                    data={"grant_type": "client_credentials"},
                    auth=(self._client_id, self._client_secret),
                    safe=True,  # a client-credentials grant has no side effect worth guarding
                )
                self._token = body["access_token"]
                redaction.register_secret(self._token)
                self._token_expiry = time.monotonic() + float(body.get("expires_in", 1800))
            return self._token

    def _headers(self, idempotency_key: str | None = None) -> dict[str, str]:
        h = {"Authorization": f"Bearer {self._bearer()}", "Xero-Tenant-Id": self.tenant_id}
        if idempotency_key:
            h["Idempotency-Key"] = idempotency_key
        return h

    def _call(self, method: str, path: str, *, idempotency_key: str | None = None,
              headers: dict[str, str] | None = None, **kw: Any) -> Any:
        """One API call; a 401 (token revoked or expired early) refreshes the token once and repeats."""
        for attempt in (1, 2):
            try:
                return self.http.json(method, f"{API}/{path}",
                                      headers={**self._headers(idempotency_key), **(headers or {})}, **kw)
            except AuthError as e:
                if attempt == 2 or e.status != 401:
                    raise
                with self._lock:
                    self._token = None

    def _get(self, path: str, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
        return self._call("GET", path, params=params, headers=headers)

    def _write(self, method: str, path: str, body: dict[str, Any], idempotency_key: str,
               params: dict[str, Any] | None = None) -> Any:
        check_write(method, path, body)  # nothing Xero's spec refuses leaves (OutboundContractError)
        return self._call(method, path, idempotency_key=idempotency_key, params=params, content=dumps(body),
                          headers={"Content-Type": "application/json"})

    def _pages(self, path: str, key: str, params: dict[str, Any],
               modified_since: datetime | None = None) -> Iterator[list[dict[str, Any]]]:
        headers = {"If-Modified-Since": if_modified_since(modified_since)} if modified_since else None
        page = 1
        while True:
            items = self._get(path, {**params, "page": page}, headers).get(key, [])
            if items:
                yield items
            if len(items) < PAGE_SIZE:
                return
            page += 1

    # -- generic reads ----------------------------------------------------------------------
    def pages(self, collection: str, *, where: str | None = None, order: str | None = None,
              modified_since: datetime | None = None, params: dict[str, Any] | None = None
              ) -> Iterator[list[dict[str, Any]]]:
        """Stream pages (100 items) of a collection; ``modified_since`` sends ``If-Modified-Since``."""
        p: dict[str, Any] = dict(params or {})
        if where:
            p["where"] = where
        if order:
            p["order"] = order
        return self._pages(collection, collection, p, modified_since=modified_since)

    def get_by_id(self, collection: str, key: str) -> dict[str, Any] | None:
        try:
            items = self._get(f"{collection}/{key}").get(collection, [])
        except PermanentError as e:
            if e.status == 404:
                return None
            raise
        return items[0] if items else None

    # -- contacts ---------------------------------------------------------------------------
    def find_contact_by_number(self, number: str) -> dict[str, Any] | None:
        items = self._get("Contacts", {"where": f"ContactNumber=={_q(number)}"}).get("Contacts", [])
        return items[0] if items else None

    def create_contacts(self, contacts: list[dict[str, Any]], idempotency_key: str) -> list[dict[str, Any]]:
        return self.create("Contacts", contacts, idempotency_key)

    # -- invoices ---------------------------------------------------------------------------
    def invoices(self, where: str | None = None, order: str | None = None) -> Iterator[list[dict[str, Any]]]:
        return self.pages("Invoices", where=where, order=order)

    def invoices_with_reference_prefix(self, prefix: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for page in self.invoices(where=f"Reference.StartsWith({_q(prefix)})", order="Reference"):
            out.extend(page)
        return out

    def find_invoice_by_reference(self, reference: str) -> dict[str, Any] | None:
        return self._find_live("Invoices", f"Reference=={_q(reference)}")

    def find_invoice_by_number(self, number: str) -> dict[str, Any] | None:
        items = self._get("Invoices", {"InvoiceNumbers": number}).get("Invoices", [])
        return items[0] if items else None

    def create_invoices(self, invoices: list[dict[str, Any]], idempotency_key: str) -> list[dict[str, Any]]:
        """Create up to 50 invoices in one call; each returned item may carry ValidationErrors."""
        return self.create("Invoices", invoices, idempotency_key)

    # -- credit notes, payments, bank transactions --------------------------------------------
    def find_credit_note_by_reference(self, reference: str) -> dict[str, Any] | None:
        return self._find_live("CreditNotes", f"Reference=={_q(reference)}")

    def find_credit_note_by_number(self, number: str) -> dict[str, Any] | None:
        return self._find_live("CreditNotes", f"CreditNoteNumber=={_q(number)}")

    def create_credit_notes(self, notes: list[dict[str, Any]], idempotency_key: str) -> list[dict[str, Any]]:
        return self.create("CreditNotes", notes, idempotency_key)

    def create_payments(self, payments: list[dict[str, Any]], idempotency_key: str) -> list[dict[str, Any]]:
        return self.create("Payments", payments, idempotency_key)

    def create_bank_transactions(self, txns: list[dict[str, Any]], idempotency_key: str) -> list[dict[str, Any]]:
        return self.create("BankTransactions", txns, idempotency_key)

    def _find_live(self, collection: str, where: str) -> dict[str, Any] | None:
        items = self._get(collection, {"where": where}).get(collection, [])
        live = [i for i in items if i.get("Status") not in ("DELETED", "VOIDED")]
        return live[0] if live else None

    # -- generic writes ---------------------------------------------------------------------
    def create(self, collection: str, items: list[dict[str, Any]], idempotency_key: str) -> list[dict[str, Any]]:
        """One PUT of up to 50 items with ``summarizeErrors=false``: every item answers for itself."""
        if collection not in RESOURCES:
            raise ValueError(f"unknown Xero collection {collection!r}; known: {', '.join(RESOURCES)}")
        if not items:
            return []
        out = self._batch_write("PUT", collection, items, idempotency_key)
        if len(out) != len(items):
            raise PermanentError(f"Xero answered {len(out)} {collection} for {len(items)} sent; cannot map results "
                                 "back to their sources", system="xero", method="PUT", url=collection)
        return out

    def write_batches(self, collection: str, records: Sequence[tuple[str, dict[str, Any]]], *,
                      key_prefix: str) -> list[ItemResult]:
        """Create many documents in batches of up to 50, each result mapped back to its source key.

        ``records`` pairs a source key (an invoice key, a payment's bank-line id ...) with its Xero payload.
        Each batch's ``Idempotency-Key`` derives from its source keys and payloads, so a retried or re-run
        batch replays instead of duplicating; a batch the API refuses as a whole marks each of its items
        failed with the reason.
        """
        results: list[ItemResult] = []
        sendable = []
        for key, payload in records:  # a record the spec refuses fails alone, before anything is sent
            if problems := item_problems(collection, payload):
                results.append(ItemResult(key, False, None, problems))
            else:
                sendable.append((key, payload))
        records = sendable
        for start in range(0, len(records), MAX_BATCH):
            batch = list(records[start:start + MAX_BATCH])
            digest = hashlib.sha256()
            for key, payload in batch:
                digest.update(key.encode())
                digest.update(dumps(payload))
            idem = f"{key_prefix}-{digest.hexdigest()[:40]}"
            try:
                created = self.create(collection, [p for _, p in batch], idem)
            except PermanentError as e:
                results.extend(ItemResult(k, False, None, [str(e)], idem) for k, _ in batch)
                continue
            for (key, _), item in zip(batch, created, strict=True):
                errors = [v.get("Message", "") for v in item.get("ValidationErrors") or []]
                ok = not item.get("HasErrors") and not errors
                results.append(ItemResult(key, ok, item if ok else None, errors, idem))
        return results

    # -- posting (issue 6): whole listings in big pages, updates, allocations -------------------
    def list_all(self, collection: str, *, where: str | None = None, order: str | None = None,
                 modified_since: datetime | None = None, page_size: int | None = None,
                 params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every item of a collection matching ``where``, all pages, in as few calls as the API allows.

        ``page_size`` asks for bigger pages (Xero's ``pageSize``, up to 1000); a server that ignores it
        answers pages of 100 and every page is still read.
        """
        params = dict(params or {})
        if where:
            params["where"] = where
        if order:
            params["order"] = order
        if page_size:
            params["pageSize"] = page_size
        headers = {"If-Modified-Since": if_modified_since(modified_since)} if modified_since else None
        out: list[dict[str, Any]] = []
        honoured = False
        page = 1
        while True:
            body = self._get(collection, {**params, "page": page}, headers)
            items = body.get(collection, [])
            out.extend(items)
            pagination = body.get("pagination") or {}
            if pagination.get("pageCount") is not None:
                if page >= int(pagination["pageCount"]):
                    return out
            else:
                honoured = honoured or len(items) > PAGE_SIZE
                if len(items) < PAGE_SIZE or (honoured and page_size and len(items) < page_size):
                    return out
            page += 1

    def update(self, collection: str, items: list[dict[str, Any]], idempotency_key: str) -> list[dict[str, Any]]:
        """POST up to 50 existing documents (each names its ID) with ``summarizeErrors=false``."""
        if not items:
            return []
        return self._batch_write("POST", collection, items, idempotency_key)

    def _batch_write(self, method: str, collection: str, items: list[dict[str, Any]],
                     idempotency_key: str) -> list[dict[str, Any]]:
        """One write of at most 50 items, each answering for itself (``summarizeErrors=false``)."""
        if len(items) > MAX_BATCH:
            raise ValueError(f"Xero accepts at most {MAX_BATCH} {collection} per call, got {len(items)}")
        if not idempotency_key:
            raise ValueError("every write carries an Idempotency-Key")
        body = self._write(method, collection, {collection: items}, idempotency_key,
                           params={"summarizeErrors": "false"})
        return body[collection]

    def delete_payment(self, payment_id: str, idempotency_key: str) -> dict[str, Any]:
        """Reverse a payment (Xero deletes payments by POSTing ``Status: DELETED`` to the payment)."""
        body = self._write("POST", f"Payments/{payment_id}", {"Status": "DELETED"}, idempotency_key)
        return (body.get("Payments") or [{}])[0]

    def allocate_credit_note(self, credit_note_id: str, *, invoice_id: str, amount: Any, date: str,
                             idempotency_key: str) -> dict[str, Any]:
        """Apply (part of) a credit note to an invoice: the invoice's amount due drops by ``amount``."""
        body = self._write("PUT", f"CreditNotes/{credit_note_id}/Allocations",
                           {"Allocations": [{"Amount": amount, "Invoice": {"InvoiceID": invoice_id}, "Date": date}]},
                           idempotency_key)
        return (body.get("Allocations") or [{}])[0]


RESOURCES: dict[str, tuple[str, str | None]] = {
    "Contacts": ("ContactID", "ContactNumber"),
    "Invoices": ("InvoiceID", "InvoiceNumber"),
    "CreditNotes": ("CreditNoteID", "CreditNoteNumber"),
    "Payments": ("PaymentID", None),
    "BankTransactions": ("BankTransactionID", None),
}


@dataclass(frozen=True)
class ItemResult:
    """The outcome of one item of a batch write, keyed by the source record it came from."""

    source_key: str
    ok: bool
    document: dict[str, Any] | None
    errors: list[str] = field(default_factory=list)
    idempotency_key: str = ""


def parse_xero_date(value: str | None) -> datetime | None:
    """``/Date(1730000000000+0000)/`` (Xero's JSON dates) → an aware UTC datetime."""
    if not value:
        return None
    m = re.match(r"/Date\((-?\d+)([+-]\d{4})?\)/", value)
    if m:
        return datetime.fromtimestamp(int(m.group(1)) / 1000, tz=UTC)
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def if_modified_since(dt: datetime) -> str:
    """The ``If-Modified-Since`` value the OpenAPI spec accepts (RFC 3339, UTC)."""
    if dt.tzinfo is None:
        raise ValueError("If-Modified-Since needs an aware datetime")
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def contact_payload(name: str, contact_number: str, currency: str) -> dict[str, Any]:
    """A customer contact; a name longer than Xero's 255 characters is shortened with an ellipsis (the
    contact is found again by its number, never by name)."""
    return {"Name": contact_name(name), "ContactNumber": contact_number, "DefaultCurrency": currency,
            "IsCustomer": True}


def invoice_payload(*, contact_id: str, reference: str, currency: str, date: str, due_date: str, status: str,
                    lines: list[dict[str, Any]], line_amount_types: str = "Exclusive") -> dict[str, Any]:
    """An ACCREC invoice; ``lines`` carry Decimal quantities and amounts (and optionally ``item_code``,
    ``tracking``: [(category, option)], and ``tax_amount``: the line's tax as we computed it, which Xero takes
    instead of its own calculation: how invoice-level tax rounding reaches the document)."""
    return {
        "Type": "ACCREC",
        "Contact": {"ContactID": contact_id},
        "Date": date,
        "DueDate": due_date,
        "Reference": reference,
        "CurrencyCode": currency,
        "Status": status,
        "LineAmountTypes": line_amount_types,
        "LineItems": [_item_and_tracking(li, {
            "Description": line_description(li["description"]),
            "Quantity": li["quantity"],
            "UnitAmount": li["unit_amount"],
            "LineAmount": li["line_amount"],
            "AccountCode": li["account_code"],
            "TaxType": li["tax_type"],
        }) for li in lines],
    }


def _item_and_tracking(li: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    if li.get("tax_amount") is not None:  # our tax for the line: Xero's computed one is overridden with it
        out["TaxAmount"] = li["tax_amount"]
    if li.get("item_code"):
        out["ItemCode"] = li["item_code"]
    if li.get("tracking"):
        out["Tracking"] = [{"Name": c, "Option": o} for c, o in li["tracking"]]
    return out


def _line(li: dict[str, Any]) -> dict[str, Any]:
    out = {"Description": line_description(li["description"]), "Quantity": li["quantity"],
           "UnitAmount": li["unit_amount"],
           "AccountCode": li["account_code"]}
    if li.get("line_amount") is not None:
        out["LineAmount"] = li["line_amount"]
    if li.get("tax_type"):
        out["TaxType"] = li["tax_type"]
    return out


def credit_note_payload(*, contact_id: str, reference: str, currency: str, date: str, status: str,
                        lines: list[dict[str, Any]], line_amount_types: str = "Exclusive") -> dict[str, Any]:
    """An ACCRECCREDIT credit note (exclusive line amounts unless told otherwise)."""
    return {"Type": "ACCRECCREDIT", "Contact": {"ContactID": contact_id}, "Date": date, "Reference": reference,
            "CurrencyCode": currency, "Status": status, "LineAmountTypes": line_amount_types,
            "LineItems": [_item_and_tracking(li, _line(li)) for li in lines]}


def payment_payload(*, account_code: str, date: str, amount: Any, invoice_id: str | None = None,
                    invoice_number: str | None = None, credit_note_id: str | None = None,
                    reference: str | None = None, currency_rate: Any = None) -> dict[str, Any]:
    """A payment applied to an invoice (by id or number) or a credit note, from a bank account."""
    out: dict[str, Any] = {"Account": {"Code": account_code}, "Date": date, "Amount": amount}
    if invoice_id:
        out["Invoice"] = {"InvoiceID": invoice_id}
    elif invoice_number:
        out["Invoice"] = {"InvoiceNumber": invoice_number}
    elif credit_note_id:
        out["CreditNote"] = {"CreditNoteID": credit_note_id}
    else:
        raise ValueError("a payment applies to an invoice or a credit note")
    if reference:
        out["Reference"] = reference
    if currency_rate is not None:
        out["CurrencyRate"] = currency_rate
    return out


def bank_transaction_payload(*, type_: str, bank_account_code: str, date: str, currency: str,
                             lines: list[dict[str, Any]], contact_id: str | None = None,
                             reference: str | None = None) -> dict[str, Any]:
    """A RECEIVE or SPEND bank transaction (e.g. a bank fee, an unmatched receipt)."""
    out: dict[str, Any] = {"Type": type_, "BankAccount": {"Code": bank_account_code}, "Date": date,
                           "CurrencyCode": currency, "LineAmountTypes": "Exclusive",
                           "LineItems": [_line(li) for li in lines]}
    if contact_id:
        out["Contact"] = {"ContactID": contact_id}
    if reference:
        out["Reference"] = reference
    return out
