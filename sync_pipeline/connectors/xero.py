"""Xero Accounting API target.

OAuth2 client-credentials token, contacts and invoices; every write carries an
``Idempotency-Key``; batch writes use ``summarizeErrors=false`` so each item
reports its own validation errors.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from sync_pipeline.connectors import redaction
from sync_pipeline.connectors.http import HttpClient
from sync_pipeline.connectors.limits import XERO_LIMITS, CircuitBreaker, RateLimiter
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

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.http.json("GET", f"{API}/{path}", params=params, headers=self._headers())

    def _write(self, method: str, path: str, body: dict[str, Any], idempotency_key: str,
               params: dict[str, Any] | None = None) -> Any:
        content = dumps(body)
        return self.http.json(method, f"{API}/{path}", params=params, content=content,
                              headers={**self._headers(idempotency_key), "Content-Type": "application/json"})

    def _pages(self, path: str, key: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        page = 1
        while True:
            items = self._get(path, {**params, "page": page}).get(key, [])
            if items:
                yield items
            if len(items) < PAGE_SIZE:
                return
            page += 1

    # -- contacts ---------------------------------------------------------------------------
    def find_contact_by_number(self, number: str) -> dict[str, Any] | None:
        items = self._get("Contacts", {"where": f"ContactNumber=={_q(number)}"}).get("Contacts", [])
        return items[0] if items else None

    def create_contacts(self, contacts: list[dict[str, Any]], idempotency_key: str) -> list[dict[str, Any]]:
        body = self._write("PUT", "Contacts", {"Contacts": contacts}, idempotency_key,
                           params={"summarizeErrors": "false"})
        return body["Contacts"]

    # -- invoices ---------------------------------------------------------------------------
    def invoices(self, where: str | None = None, order: str | None = None) -> Iterator[list[dict[str, Any]]]:
        params: dict[str, Any] = {}
        if where:
            params["where"] = where
        if order:
            params["order"] = order
        return self._pages("Invoices", "Invoices", params)

    def invoices_with_reference_prefix(self, prefix: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for page in self.invoices(where=f"Reference.StartsWith({_q(prefix)})", order="Reference"):
            out.extend(page)
        return out

    def find_invoice_by_reference(self, reference: str) -> dict[str, Any] | None:
        items = self._get("Invoices", {"where": f"Reference=={_q(reference)}"}).get("Invoices", [])
        live = [i for i in items if i.get("Status") not in ("DELETED", "VOIDED")]
        return live[0] if live else None

    def create_invoices(self, invoices: list[dict[str, Any]], idempotency_key: str) -> list[dict[str, Any]]:
        """Create up to 50 invoices in one call; each returned item may carry ValidationErrors."""
        if len(invoices) > MAX_BATCH:
            raise ValueError(f"Xero accepts at most {MAX_BATCH} invoices per call, got {len(invoices)}")
        body = self._write("PUT", "Invoices", {"Invoices": invoices}, idempotency_key,
                           params={"summarizeErrors": "false"})
        return body["Invoices"]


def contact_payload(name: str, contact_number: str, currency: str) -> dict[str, Any]:
    return {"Name": name, "ContactNumber": contact_number, "DefaultCurrency": currency, "IsCustomer": True}


def invoice_payload(*, contact_id: str, reference: str, currency: str, date: str, due_date: str, status: str,
                    lines: list[dict[str, Any]]) -> dict[str, Any]:
    """An ACCREC invoice with exclusive line amounts; ``lines`` carry Decimal quantities and amounts."""
    return {
        "Type": "ACCREC",
        "Contact": {"ContactID": contact_id},
        "Date": date,
        "DueDate": due_date,
        "Reference": reference,
        "CurrencyCode": currency,
        "Status": status,
        "LineAmountTypes": "Exclusive",
        "LineItems": [
            {
                "Description": li["description"],
                "Quantity": li["quantity"],
                "UnitAmount": li["unit_amount"],
                "LineAmount": li["line_amount"],
                "AccountCode": li["account_code"],
                "TaxType": li["tax_type"],
            }
            for li in lines
        ],
    }
