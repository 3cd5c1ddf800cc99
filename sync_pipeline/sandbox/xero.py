"""A Xero Accounting API compatible sandbox (subset).

OAuth2 client-credentials at ``/connect/token``; under ``/api.xro/2.0/``: Contacts, Invoices,
CreditNotes (with Allocations), Payments, BankTransactions, Accounts, TaxRates, Currencies, Items,
TrackingCategories, with Xero's envelopes, field names, statuses and error shapes. Every request is
first checked against Xero's official spec (``xero_requests.py``). ``Xero-Tenant-Id``; pages of 100
(``pageSize`` up to 1000, with a ``pagination`` block); ``where`` / ``order`` / ``If-Modified-Since``; batch create/update with
``summarizeErrors=false``; ``Idempotency-Key`` replay and rejection; minute/day/concurrent limits.

Money side effects follow Xero: payments and credit-note allocations reduce an invoice's
``AmountDue`` (``AmountPaid``/``AmountCredited``); a fully settled invoice becomes ``PAID``;
deleting a payment (POST ``{"Status": "DELETED"}``) reopens it.

Performance: common filters (Reference ==/StartsWith, Status, InvoiceNumber, ContactNumber,
Contact.ContactID, Date ranges, If-Modified-Since) run as SQL on indexed columns; only the rest of a
``where`` clause is evaluated in Python. ``bulk_create`` seeds large datasets without HTTP.

This module is the app: tenants, auth, limits, routing, reads and the write machinery (idempotency,
batches, savepoints). What an item becomes is in ``xero_documents.py`` (and ``xero_catalog.py``),
payments and allocations in ``xero_payments.py``, money and dates in ``xero_money.py``.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

from sync_pipeline.contracts import xero_spec
from sync_pipeline.contracts.codec import dumps, loads
from sync_pipeline.sandbox import xero_reference as ref
from sync_pipeline.sandbox.harvest import SlidingWindowLimiter
from sync_pipeline.sandbox.server import ApiError, App, Request, Response
from sync_pipeline.sandbox.storage import DocStore
from sync_pipeline.sandbox.xero_documents import DocumentsMixin
from sync_pipeline.sandbox.xero_money import ms_date, utcnow
from sync_pipeline.sandbox.xero_payments import PaymentsMixin
from sync_pipeline.sandbox.xero_requests import (
    Event,
    _err,
    _not_found,
    _Rollback,
    _Tx,
    _validation_exception,
    check_request,
)
from sync_pipeline.sandbox.xero_webhooks import WebhookSender
from sync_pipeline.sandbox.xero_where import Column, WhereError, as_date, get_path, plan

API = "/api.xro/2.0"
PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

# Indexed columns per collection ("__" reaches into nested objects). Names starting with "_" are
# sandbox-internal document fields, never returned.
def _updated_of(doc: dict[str, Any]) -> str | None:
    """UpdatedDateUTC (``/Date(ms+0000)/``) as an ISO instant with microseconds, for range queries."""
    if doc.get("_updated"):  # documents written by an older sandbox
        return str(doc["_updated"])
    m = re.match(r"^/Date\((-?\d+)", str(doc.get("UpdatedDateUTC") or ""))
    if not m:
        return None
    return datetime.fromtimestamp(int(m.group(1)) / 1000, tz=UTC).isoformat(timespec="microseconds")


def _date_of(field_: str) -> Callable[[dict[str, Any]], str | None]:
    def extract(doc: dict[str, Any]) -> str | None:
        d = as_date(doc.get(field_)) if doc.get(field_) else None
        return d.isoformat() if d else None

    return extract


_UPDATED = ("TEXT", _updated_of)
_DATE = ("TEXT", _date_of("Date"))
COLLECTIONS: dict[str, dict[str, Any]] = {
    "Contacts": {"_updated": _UPDATED, "ContactNumber": "TEXT", "Name": "TEXT", "ContactStatus": "TEXT"},
    "Invoices": {"_updated": _UPDATED, "Reference": "TEXT", "InvoiceNumber": "TEXT", "Status": "TEXT", "Type": "TEXT",
                 "Contact__ContactID": "TEXT", "_date": _DATE, "_due": ("TEXT", _date_of("DueDate"))},
    "CreditNotes": {"_updated": _UPDATED, "Reference": "TEXT", "CreditNoteNumber": "TEXT", "Status": "TEXT",
                    "Type": "TEXT", "Contact__ContactID": "TEXT", "_date": _DATE},
    "Payments": {"_updated": _UPDATED, "Reference": "TEXT", "Status": "TEXT", "PaymentType": "TEXT",
                 "Invoice__InvoiceID": "TEXT", "CreditNote__CreditNoteID": "TEXT", "Account__AccountID": "TEXT",
                 "_date": _DATE},
    "BankTransactions": {"_updated": _UPDATED, "Reference": "TEXT", "Status": "TEXT", "Type": "TEXT",
                         "Contact__ContactID": "TEXT", "BankAccount__AccountID": "TEXT", "_date": _DATE,
                         "IsReconciled": "INTEGER"},
    "Accounts": {"_updated": _UPDATED, "Code": "TEXT", "Type": "TEXT", "Status": "TEXT"},
    "TaxRates": {"_updated": _UPDATED, "TaxType": "TEXT", "Status": "TEXT"},
    "Currencies": {"_updated": _UPDATED, "Code": "TEXT"},
    "Items": {"_updated": _UPDATED, "Code": "TEXT"},
    "TrackingCategories": {"_updated": _UPDATED, "Name": "TEXT", "Status": "TEXT"},
}
ID_FIELD = {"Contacts": "ContactID", "Invoices": "InvoiceID", "CreditNotes": "CreditNoteID",
            "Payments": "PaymentID", "BankTransactions": "BankTransactionID", "Accounts": "AccountID",
            "TaxRates": "TaxType", "Currencies": "Code", "Items": "ItemID", "TrackingCategories": "TrackingCategoryID"}
NUMBER_FIELD = {"Contacts": "ContactNumber", "Invoices": "InvoiceNumber", "CreditNotes": "CreditNoteNumber",
                "Accounts": "Code", "Items": "Code"}

# where-clause field → indexed column
WHERE_COLUMNS: dict[str, dict[str, Column]] = {
    "Contacts": {"contactid": Column("id", "guid"), "contactnumber": Column("ContactNumber"),
                 "name": Column("Name"), "contactstatus": Column("ContactStatus")},
    "Invoices": {"invoiceid": Column("id", "guid"), "reference": Column("Reference"),
                 "invoicenumber": Column("InvoiceNumber"), "status": Column("Status"), "type": Column("Type"),
                 "contact.contactid": Column("Contact__ContactID", "guid"), "date": Column("_date", "date"),
                 "duedate": Column("_due", "date")},
    "CreditNotes": {"creditnoteid": Column("id", "guid"), "reference": Column("Reference"),
                    "creditnotenumber": Column("CreditNoteNumber"), "status": Column("Status"),
                    "type": Column("Type"), "contact.contactid": Column("Contact__ContactID", "guid"),
                    "date": Column("_date", "date")},
    "Payments": {"paymentid": Column("id", "guid"), "reference": Column("Reference"), "status": Column("Status"),
                 "paymenttype": Column("PaymentType"), "invoice.invoiceid": Column("Invoice__InvoiceID", "guid"),
                 "creditnote.creditnoteid": Column("CreditNote__CreditNoteID", "guid"),
                 "account.accountid": Column("Account__AccountID", "guid"), "date": Column("_date", "date")},
    "BankTransactions": {"banktransactionid": Column("id", "guid"), "reference": Column("Reference"),
                         "status": Column("Status"), "type": Column("Type"),
                         "contact.contactid": Column("Contact__ContactID", "guid"),
                         "bankaccount.accountid": Column("BankAccount__AccountID", "guid"),
                         "date": Column("_date", "date")},
    "Accounts": {"accountid": Column("id", "guid"), "code": Column("Code"), "type": Column("Type"),
                 "status": Column("Status")},
    "TaxRates": {"taxtype": Column("TaxType"), "status": Column("Status")},
    "Currencies": {"code": Column("Code")},
    "Items": {"itemid": Column("id", "guid"), "code": Column("Code")},
    "TrackingCategories": {"trackingcategoryid": Column("id", "guid"), "name": Column("Name"),
                           "status": Column("Status")},
}
# ``order`` fields that sort in SQL
ORDER_COLUMNS: dict[str, dict[str, str]] = {
    coll: {k: c.name for k, c in cols.items() if "." not in k} | {"updateddateutc": "_updated"}
    for coll, cols in WHERE_COLUMNS.items()
}

EDITABLE = {"DRAFT", "SUBMITTED"}
WEBHOOK_CATEGORY = {"Invoices": "INVOICE", "Contacts": "CONTACT", "CreditNotes": "CREDITNOTE"}


class XeroSandbox(DocumentsMixin, PaymentsMixin, App):
    name = "xero"

    def __init__(self, db_path: str, *, client_id: str = "sandbox-client", client_secret: str = "sandbox-secret",
                 token_ttl: int = 1800, minute_limit: int = 60, day_limit: int = 5000,
                 concurrent_limit: int = 5, minute_window: float = 60.0, day_window: float = 86400.0,
                 tax_amount_tolerance: int | None = 1) -> None:
        super().__init__()
        self.store = DocStore(db_path, COLLECTIONS)
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl = token_ttl
        self.minute = SlidingWindowLimiter(minute_limit, minute_window)
        self.day = SlidingWindowLimiter(day_limit, day_window)
        self.concurrent_limit = concurrent_limit
        # how many minor units a line's given TaxAmount may differ from the sandbox's calculation; None takes
        # any (Xero documents no bound); 1 by default: a sandbox-only safeguard against a wrong tax slipping in
        self.tax_amount_tolerance = tax_amount_tolerance
        self._inflight: dict[str, int] = {}
        self._inflight_lock = threading.Lock()
        self._idem_guard = threading.Lock()
        self._idem_locks: dict[tuple[str, str], threading.Lock] = {}
        self._tokens: dict[str, float] = {}
        self._ref_cache: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self._tenant_cache: dict[str, dict[str, Any]] = {}
        self.listeners: list[Callable[[list[Event]], None]] = []  # told about committed changes (webhooks)
        self.webhooks = WebhookSender(self)
        self.listeners.append(self.webhooks.publish)
        self.router.add("POST", "/connect/token", self._token)
        self.router.add("GET", "/connections", self._connections)
        for coll in COLLECTIONS:
            self.router.add("GET", f"{API}/{coll}", self._lister(coll))
            self.router.add("GET", f"{API}/{coll}/(?P<id>[^/]+)", self._getter(coll))
        for coll in ("Contacts", "Invoices", "CreditNotes", "BankTransactions", "Items"):
            self.router.add("PUT", f"{API}/{coll}", self._writer(coll, create_only=True))
            self.router.add("POST", f"{API}/{coll}", self._writer(coll, create_only=False))
            self.router.add("POST", f"{API}/{coll}/(?P<id>[^/]+)", self._writer(coll, create_only=False))
        self.router.add("PUT", f"{API}/CreditNotes/(?P<id>[^/]+)/Allocations", self._allocate)
        self.router.add("DELETE", f"{API}/CreditNotes/(?P<id>[^/]+)/Allocations/(?P<alloc>[^/]+)",
                        self._delete_allocation)
        self.router.add("PUT", f"{API}/Payments", self._writer("Payments", create_only=True))
        self.router.add("POST", f"{API}/Payments", self._writer("Payments", create_only=True))
        self.router.add("POST", f"{API}/Payments/(?P<id>[^/]+)", self._writer("Payments", create_only=False))
        self.router.add("PUT", f"{API}/Accounts", self._writer("Accounts", create_only=True))
        self.router.add("POST", f"{API}/Accounts/(?P<id>[^/]+)", self._writer("Accounts", create_only=False))
        self.router.add("DELETE", f"{API}/Accounts/(?P<id>[^/]+)", self._delete_account)
        self.router.add("PUT", f"{API}/TaxRates", self._writer("TaxRates", create_only=True))
        self.router.add("POST", f"{API}/TaxRates", self._writer("TaxRates", create_only=False))
        self.router.add("PUT", f"{API}/Currencies", self._writer("Currencies", create_only=True))
        self.router.add("PUT", f"{API}/TrackingCategories", self._writer("TrackingCategories", create_only=True))
        self.router.add("PUT", f"{API}/TrackingCategories/(?P<id>[^/]+)/Options", self._add_tracking_option)

    @property
    def base_url(self) -> str:
        return self.webhooks.base_url

    @base_url.setter
    def base_url(self, url: str) -> None:
        self.webhooks.base_url = url

    def close(self) -> None:
        self.webhooks.stop()

    def admin_routes(self, req: Request) -> Response | None:
        """``/_sandbox/webhooks``: list (GET), subscribe (POST {url, key?, categories?, verify?}),
        ``/_sandbox/webhooks/{id}/verify`` (POST), ``/_sandbox/webhooks/{id}`` (DELETE)."""
        parts = [p for p in req.path.split("/") if p][1:]
        if not parts or parts[0] != "webhooks":
            return None
        if len(parts) == 1 and req.method == "GET":
            return Response(200, {"subscriptions": [s.as_dict() for s in self.webhooks.subscriptions()],
                                  "pending": self.webhooks.pending()})
        if len(parts) == 1 and req.method == "POST":
            spec = req.json()
            if not isinstance(spec, dict) or not spec.get("url"):
                raise ApiError(400, {"message": "body must be a JSON object with the subscriber 'url'"})
            try:
                sub = self.webhooks.subscribe(spec["url"], spec.get("key"),
                                              spec.get("categories") or ("INVOICE", "CONTACT", "CREDITNOTE"),
                                              verify=spec.get("verify", True))
            except ValueError as e:
                raise ApiError(400, {"message": str(e)}) from None
            return Response(201, sub.as_dict())
        if len(parts) == 3 and parts[2] == "verify" and req.method == "POST":
            if parts[1] not in {s.id for s in self.webhooks.subscriptions()}:
                raise ApiError(404, {"message": f"no webhook subscription {parts[1]}"})
            return Response(200, self.webhooks.verify(parts[1]).as_dict())
        if len(parts) == 2 and req.method == "DELETE":
            if not self.webhooks.unsubscribe(parts[1]):
                raise ApiError(404, {"message": f"no webhook subscription {parts[1]}"})
            return Response(200, {"deleted": parts[1]})
        raise ApiError(404, {"message": f"no sandbox admin route {req.method} {req.path}"})

    # -- tenants and auth -------------------------------------------------------------------
    def add_tenant(self, tenant_id: str, name: str, base_currency: str = "GBP") -> None:
        """Register an organisation; a new one gets Xero's default accounts, tax rates and currencies."""
        self.store.kv_put("tenants", tenant_id, {"tenantId": tenant_id, "tenantName": name,
                                                 "tenantType": "ORGANISATION", "baseCurrency": base_currency})
        self._tenant_cache.pop(tenant_id, None)
        if self.store.count("Accounts", tenant_id) == 0:
            self._seed_reference_data(tenant_id, base_currency)

    def tenants(self) -> list[dict[str, Any]]:
        rows = self.store._conn().execute("SELECT v FROM kv WHERE ns = 'tenants' ORDER BY k").fetchall()
        return [loads(r[0]) for r in rows]

    def tenant(self, tenant_id: str) -> dict[str, Any] | None:
        t = self._tenant_cache.get(tenant_id)
        if t is None:
            t = self.store.kv_get("tenants", tenant_id)
            if t is not None:
                self._tenant_cache[tenant_id] = t
        return t

    def base_currency(self, tenant: str) -> str:
        t = self.tenant(tenant) or {}
        return t.get("baseCurrency") or "GBP"

    def _seed_reference_data(self, tenant: str, base: str) -> None:
        now = utcnow()
        stamp = {"UpdatedDateUTC": ms_date(now)}
        accounts = []
        for code, name, typ, extra in [*ref.ACCOUNTS, *ref.bank_accounts(base)]:
            aid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"xero-sandbox:{tenant}:account:{code}"))
            accounts.append((aid, {"AccountID": aid, "Code": code, "Name": name, "Type": typ, "Status": "ACTIVE",
                                   "Class": ref.CLASS_OF_TYPE.get(typ, "ASSET"),
                                   "EnablePaymentsToAccount": typ == "BANK", "ShowInExpenseClaims": False,
                                   "HasAttachments": False, "AddToWatchlist": False, **extra, **stamp}))
        self.store.bulk_put("Accounts", tenant, accounts)
        taxes = []
        for tax_type, name, report, rate, revenue, expenses in ref.TAX_RATES:
            r = Decimal(rate)
            taxes.append((tax_type, {
                "Name": name, "TaxType": tax_type, "ReportTaxType": report, "Status": "ACTIVE",
                "TaxComponents": [{"Name": "VAT" if base == "GBP" else "Tax", "Rate": r, "IsCompound": False,
                                   "IsNonRecoverable": False}],
                "CanApplyToAssets": expenses, "CanApplyToEquity": expenses, "CanApplyToExpenses": expenses,
                "CanApplyToLiabilities": expenses, "CanApplyToRevenue": revenue, "DisplayTaxRate": r,
                "EffectiveRate": r, **stamp}))
        self.store.bulk_put("TaxRates", tenant, taxes)
        self.store.bulk_put("Currencies", tenant, [(code, {"Code": code, "Description": desc, **stamp})
                                                   for code, desc in ref.CURRENCIES.items()])
        self._ref_cache.clear()

    def _token(self, req: Request) -> Response:
        auth = req.headers.get("authorization", "")
        form = dict(p.split("=", 1) for p in req.body.decode().split("&") if "=" in p)
        cid, secret = form.get("client_id", ""), form.get("client_secret", "")
        if auth.lower().startswith("basic "):
            try:
                cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                cid, secret = "", ""
        ok = secrets.compare_digest(cid, self.client_id) and secrets.compare_digest(secret, self.client_secret)
        if not ok or form.get("grant_type") != "client_credentials":
            raise ApiError(400, {"error": "invalid_client"} if not ok else {"error": "unsupported_grant_type"})
        token = self.issue_token()
        return Response(200, {"access_token": token, "expires_in": self.token_ttl, "token_type": "Bearer",
                              "scope": "accounting.transactions accounting.contacts accounting.settings"})

    def _connections(self, req: Request) -> Response:
        self._authenticate(req)
        return Response(200, [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, t["tenantId"])), **t}
                              for t in self.tenants()])

    def issue_token(self) -> str:
        """A valid bearer token without the OAuth round trip (for SDK tests and scripts)."""
        token = secrets.token_urlsafe(32)
        expiry = time.time() + self.token_ttl
        self._tokens[token] = expiry
        self.store.kv_put("tokens", token, expiry)  # a token outlives a restart of the sandbox, as at Xero
        return token

    def _authenticate(self, req: Request) -> None:
        auth = req.headers.get("authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        expiry = self._tokens.get(token)
        if expiry is None and token:
            expiry = self.store.kv_get("tokens", token)
            if expiry is not None:
                self._tokens[token] = expiry
        if expiry is None or expiry < time.time():
            raise ApiError(401, {"Type": None, "Title": "Unauthorized", "Status": 401,
                                 "Detail": "AuthenticationUnsuccessful"},
                           {"WWW-Authenticate": 'OAuth Realm="api.xero.com"'})

    def handle(self, req: Request) -> Response:
        if not req.path.startswith(API):
            return super().handle(req)
        self._authenticate(req)
        tenant = req.headers.get("xero-tenant-id", "")
        if not tenant or not self.tenant(tenant):
            raise ApiError(403, {"Type": None, "Title": "Forbidden", "Status": 403,
                                 "Detail": "AuthorizationUnsuccessful"})
        req.params["tenant"] = tenant
        for limiter, name in ((self.minute, "Minute"), (self.day, "Daily")):
            wait = limiter.check(tenant)
            if wait is not None:
                raise ApiError(429, {"Title": "Too Many Requests", "Status": 429,
                                     "Detail": f"{name} rate limit exceeded"},
                               {"Retry-After": str(max(1, math.ceil(wait))), "X-Rate-Limit-Problem": name.lower(),
                                "X-MinLimit-Remaining": str(self._remaining(self.minute, tenant)),
                                "X-DayLimit-Remaining": str(self._remaining(self.day, tenant))})
        with self._inflight_lock:
            if self._inflight.get(tenant, 0) >= self.concurrent_limit:
                raise ApiError(429, {"Title": "Too Many Requests", "Status": 429,
                                     "Detail": "Concurrent request limit exceeded"},
                               {"Retry-After": "1", "X-Rate-Limit-Problem": "concurrent"})
            self._inflight[tenant] = self._inflight.get(tenant, 0) + 1
        try:
            if self.router.resolve(req.method, req.path) is None:
                raise _not_found()
            check_request(req)  # the official spec's types, enums, lengths; unknown fields dropped
            resp = super().handle(req)
        finally:
            with self._inflight_lock:
                self._inflight[tenant] -= 1
        if self.minute.limit > 0:  # a disabled limit (0) has no remaining count to report
            resp.headers.setdefault("X-MinLimit-Remaining", str(self._remaining(self.minute, tenant)))
            resp.headers.setdefault("X-AppMinLimit-Remaining", str(self._remaining(self.minute, tenant)))
        if self.day.limit > 0:
            resp.headers.setdefault("X-DayLimit-Remaining", str(self._remaining(self.day, tenant)))
        return resp

    def error_response(self, err: ApiError) -> Response:
        if isinstance(err.body, str):  # Xero's 404 is plain text
            return Response(err.status, headers=err.headers, raw=err.body.encode(),
                            content_type="text/plain; charset=utf-8")
        return super().error_response(err)

    @staticmethod
    def _remaining(limiter: SlidingWindowLimiter, key: str) -> int:
        q = limiter._hits.get(key)
        if limiter.limit <= 0:
            return 0
        now = time.monotonic()
        live = sum(1 for t in list(q or ()) if now - t < limiter.window)
        return max(0, limiter.limit - live)

    def _envelope(self, coll: str, items: Iterable[dict[str, Any]], extra: dict[str, Any] | None = None):
        body = {"Id": str(uuid.uuid4()), "Status": "OK", "ProviderName": "sync-pipeline sandbox",
                "DateTimeUTC": ms_date(utcnow())}
        if extra:
            body.update(extra)
        body[coll] = [self._public(i) for i in items]
        return body

    @staticmethod
    def _public(doc: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in doc.items() if not k.startswith("_")}

    # -- reads ------------------------------------------------------------------------------
    def _lister(self, coll: str):
        def list_(req: Request) -> Response:
            body = self.list_documents(coll, req.params["tenant"], req)
            if "_raw" in body:
                return Response(200, raw=body["_raw"])
            return Response(200, body)

        return list_

    def list_documents(self, coll: str, tenant: str, req: Request) -> dict[str, Any]:
        sql: list[str] = []
        args: list[Any] = []
        residual: list[Callable[[dict[str, Any]], bool]] = []
        if (ims := req.headers.get("if-modified-since")) is not None:
            sql.append("_updated >= ?")
            args.append(_parse_instant(ims).isoformat(timespec="microseconds"))
        if (where := req.arg("where")):
            try:
                p = plan(where, WHERE_COLUMNS[coll])
            except WhereError as e:
                raise ApiError(400, {"ErrorNumber": 16, "Type": "QueryParseException", "Message": str(e)}) from None
            if p.sql:
                sql.append(p.sql)
                args.extend(p.args)
            if p.residual:
                residual.append(p.residual)

        def in_list(param: str, column: str, lower: bool = False, upper: bool = False) -> None:
            if (raw := req.arg(param)):
                values = [v.strip().strip('"') for v in raw.split(",") if v.strip()]
                values = [v.lower() if lower else v.upper() if upper else v for v in values]
                sql.append(f"{column} IN ({', '.join('?' * len(values))})")
                args.extend(values)

        in_list("IDs", "id", lower=True)
        if coll == "Invoices":
            in_list("InvoiceNumbers", "InvoiceNumber")
            in_list("Statuses", "Status", upper=True)
            in_list("ContactIDs", "Contact__ContactID", lower=True)
        if coll == "Contacts" and (req.arg("includeArchived") or "false").lower() != "true":
            sql.append("ContactStatus IS NOT 'ARCHIVED'")
        if (term := req.arg("searchTerm")):
            fields = {"Invoices": ("InvoiceNumber", "Reference"), "Contacts": ("Name", "FirstName", "LastName",
                                                                              "ContactNumber", "EmailAddress")}
            wanted = term.lower()
            names = fields.get(coll, ("Reference",))
            residual.append(lambda d: any(wanted in str(d.get(f) or "").lower() for f in names))

        order_sql, order_py = self._order(coll, req.arg("order"))
        page_arg = req.arg("page")
        try:
            page = max(1, int(page_arg)) if page_arg is not None else None
            size = min(MAX_PAGE_SIZE, max(1, int(req.arg("pageSize") or PAGE_SIZE)))
        except ValueError:
            raise ApiError(400, {"ErrorNumber": 14, "Type": "PostDataInvalidException",
                                 "Message": "page and pageSize must be integers"}) from None
        cond = " AND ".join(f"({s})" for s in sql)
        extra: dict[str, Any] = {}
        summary_only = (req.arg("summaryOnly") or "").lower() == "true"
        if not residual and order_py is None:
            limit = size if page else None
            raws = list(self.store.query_raw(coll, tenant, cond, args, order=order_sql, limit=limit,
                                             offset=((page or 1) - 1) * size))
            if page:
                total = self.store.count(coll, tenant, cond, args)
                extra = {"pagination": {"page": page, "pageSize": size, "pageCount": math.ceil(total / size),
                                        "itemCount": total}}
            if not summary_only and not any('"_' in r for r in raws):
                # splice the stored JSON in: no decoding and re-encoding of every document of a page
                head = dumps(self._envelope(coll, [], extra))[:-len(f',"{coll}":[]}}')]
                return {"_raw": head + f',"{coll}":['.encode() + ",".join(raws).encode() + b"]}"}
            docs = [loads(r) for r in raws]
        else:
            docs = [d for d in (loads(r) for r in self.store.query_raw(coll, tenant, cond, args, order=order_sql))
                    if all(f(d) for f in residual)]
            if order_py is not None:
                for fld, desc in reversed(order_py):
                    docs.sort(key=lambda d, f=fld: _sort_key(get_path(d, f.split("."))), reverse=desc)
            if page:
                total = len(docs)
                docs = docs[(page - 1) * size: page * size]
                extra = {"pagination": {"page": page, "pageSize": size, "pageCount": math.ceil(total / size),
                                        "itemCount": total}}
        if summary_only:
            docs = [{k: v for k, v in d.items() if k not in ("LineItems", "Payments", "CreditNotes")} for d in docs]
        return self._envelope(coll, docs, extra)

    def _order(self, coll: str, order: str | None) -> tuple[str, list[tuple[str, bool]] | None]:
        if not order:
            return "seq", None
        parts: list[tuple[str, bool]] = []
        for term in order.split(","):
            name, _, direction = term.strip().partition(" ")
            if not name:
                continue
            direction = direction.strip().upper() or "ASC"
            if direction not in ("ASC", "DESC"):
                raise ApiError(400, {"ErrorNumber": 16, "Type": "QueryParseException",
                                     "Message": f"order direction must be ASC or DESC, got {direction!r}"})
            parts.append((name, direction == "DESC"))
        if not parts:  # only blanks: Xero's default order
            return "seq", None
        cols = ORDER_COLUMNS[coll]
        if all(n.lower() in cols for n, _ in parts):
            return ", ".join(f"{cols[n.lower()]} {'DESC' if d else 'ASC'}" for n, d in parts) + ", seq", None
        return "seq", parts

    def _getter(self, coll: str):
        def get(req: Request) -> Response:
            key = req.params["id"]
            doc = self.find(coll, req.params["tenant"], key)
            if doc is None:
                raise _not_found()
            return Response(200, self._envelope(coll, [doc]))

        return get

    def find(self, coll: str, tenant: str, key: str) -> dict[str, Any] | None:
        """A document by its id, or by its number (InvoiceNumber, ContactNumber, CreditNoteNumber, Code)."""
        doc = self.store.get(coll, tenant, key.lower() if coll not in ("TaxRates", "Currencies") else key)
        if doc is None and coll in NUMBER_FIELD:
            found = self.store.query(coll, tenant, f"{NUMBER_FIELD[coll]} = ?", [key], limit=1)
            doc = found[0] if found else None
        return doc

    # -- writes -----------------------------------------------------------------------------
    def _idempotent(self, req: Request, run: Callable[[], Response]) -> Response:
        tenant = req.params["tenant"]
        idem = req.headers.get("idempotency-key")
        if idem and len(idem) > 128:
            raise ApiError(400, {"ErrorNumber": 10, "Type": "ValidationException",
                                 "Message": "Idempotency-Key must be at most 128 characters"})
        body_hash = hashlib.sha256(req.method.encode() + req.path.lower().encode() + b"?" +
                                   str(sorted((k.lower(), v) for k, v in req.query.items())).encode() +
                                   req.body).hexdigest()
        if idem:
            # one request per key at a time: a duplicate arriving while the first is still being processed
            # (a client that timed out and retried, a restarted worker) waits for it and gets its answer
            with self._idem_guard:
                lock = self._idem_locks.setdefault((tenant, idem), threading.Lock())
            with lock:
                return self._idempotent_once(req, run, tenant, idem, body_hash)
        return self._idempotent_once(req, run, tenant, idem, body_hash)

    def _idempotent_once(self, req: Request, run: Callable[[], Response], tenant: str, idem: str | None,
                         body_hash: str) -> Response:
        if idem:
            prior = self.store.kv_get(f"idem:{tenant}", idem)
            if prior is not None:
                if prior["hash"] != body_hash:
                    raise ApiError(400, {"ErrorNumber": 10, "Type": "ValidationException",
                                         "Message": "Idempotency-Key has already been used with a different "
                                                    "request"})
                return Response(prior["status"], prior["body"], {"Idempotent-Replayed": "true"})
        try:
            resp = run()
        except _Rollback as rb:  # a validation failure is an answer too: it replays like a success
            if rb.error.status >= 500 or rb.error.status == 404:
                raise rb.error from None
            resp = Response(rb.error.status, rb.error.body, rb.error.headers)
        if idem:
            # written after the change committed: a crash in between loses the record but not the write,
            # like a real server; concurrent duplicates are serialised by the store's write lock
            self.store.kv_put(f"idem:{tenant}", idem, {"hash": body_hash, "status": resp.status, "body": resp.body})
        return resp

    def _items(self, coll: str, req: Request) -> list[dict[str, Any]]:
        payload = req.json()
        if isinstance(payload, dict) and coll in payload:
            items = payload[coll]
        elif isinstance(payload, dict) and payload and _single_object_body(req):
            items = [payload]  # single object form (POST /Payments, PUT /Accounts, PUT /Currencies)
        else:
            items = None
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
            raise ApiError(400, {"ErrorNumber": 14, "Type": "PostDataInvalidException",
                                 "Message": f"The request body must contain a non-empty {coll} array of objects"})
        return items

    def _writer(self, coll: str, create_only: bool):
        def write(req: Request) -> Response:
            tenant = req.params["tenant"]

            def run() -> Response:
                items = self._items(coll, req)
                if req.params.get("id"):  # POST /Invoices/{InvoiceID}: the document must exist (Xero: 404)
                    target = self.find(coll, tenant, req.params["id"])
                    if target is None:
                        raise _not_found()
                    items = [{**items[0], ID_FIELD[coll]: target[ID_FIELD[coll]]}]
                summarize = (req.arg("summarizeErrors") or "true").lower() != "false"
                with self.store.tx() as c:
                    tx = _Tx(c)
                    results = [self._apply(coll, tenant, item, create_only, tx) for item in items]
                    failed = [r for r in results if r.get("HasErrors")]
                    if failed and (summarize or len(items) == 1 and coll in ("Payments", "Accounts", "Currencies",
                                                                            "TaxRates")):
                        raise _Rollback(_validation_exception(failed))
                self._publish(tx.events)
                return Response(200, self._envelope(coll, results))

            return self._idempotent(req, run)

        return write

    def _apply(self, coll: str, tenant: str, item: dict[str, Any], create_only: bool, tx: _Tx) -> dict[str, Any]:
        """Validate and store one item; a failed item leaves no trace (a savepoint undoes its side effects)."""
        mark = len(tx.events)
        tx.c.execute("SAVEPOINT item")
        try:
            result = self._apply_item(coll, tenant, item, create_only, tx)
        except BaseException:
            tx.c.execute("ROLLBACK TO item")
            tx.c.execute("RELEASE item")
            raise
        if result.get("HasErrors"):
            tx.c.execute("ROLLBACK TO item")
            del tx.events[mark:]
            self._ref_cache.clear()
        tx.c.execute("RELEASE item")
        return result

    def _apply_item(self, coll: str, tenant: str, item: dict[str, Any], create_only: bool, tx: _Tx):
        id_field = ID_FIELD[coll]
        existing = None
        if coll == "Payments" and not create_only:
            return self._delete_payment(tenant, item, tx)
        if item.get(id_field) and coll not in ("TaxRates", "Currencies"):
            existing = self.find(coll, tenant, str(item[id_field]))
            if existing is None:
                return _err(item, [f"{_singular(coll)} {item[id_field]} could not be found"])
            if create_only:
                return _err(item, [f"{_singular(coll)} {item[id_field]} already exists; use POST to update it"])
        elif coll in ("TaxRates", "Currencies") and item.get(id_field):
            existing = self.store.get(coll, tenant, str(item[id_field]))
            if existing is not None and create_only and coll == "Currencies":
                return self._public(existing)  # adding an enabled currency again is a no-op in Xero
        elif not create_only and coll in NUMBER_FIELD and item.get(NUMBER_FIELD[coll]):
            existing = self.find(coll, tenant, str(item[NUMBER_FIELD[coll]]))  # POST upserts by number
        build = getattr(self, f"_build_{coll}")
        doc, errors = build(tenant, item, existing, tx)
        if errors:
            return _err(item, errors)
        self._save(coll, tenant, doc, tx, created=existing is None)
        return doc

    def _save(self, coll: str, tenant: str, doc: dict[str, Any], tx: _Tx, created: bool) -> None:
        now = utcnow()
        doc["UpdatedDateUTC"] = ms_date(now)
        doc.pop("_updated", None)
        if coll not in ("TaxRates", "Currencies", "Accounts", "TrackingCategories"):
            doc["HasErrors"] = False
            doc["StatusAttributeString"] = "OK"
        doc.pop("ValidationErrors", None)
        key = str(doc[ID_FIELD[coll]])
        if coll not in ("TaxRates", "Currencies"):
            key = key.lower()
        self.store.put(coll, tenant, key, doc, tx.c)
        if coll in ("Accounts", "TaxRates", "Currencies", "Items", "TrackingCategories"):
            self._ref_cache.clear()
        if coll in WEBHOOK_CATEGORY:
            data = {"Type": doc.get("Type"), "Status": doc.get("Status")} if coll == "CreditNotes" else None
            tx.events.append(Event(tenant, WEBHOOK_CATEGORY[coll], "CREATE" if created else "UPDATE",
                                   str(doc[ID_FIELD[coll]]), data=data))

    def _publish(self, events: list[Event]) -> None:
        if not events:
            return
        for listener in list(self.listeners):
            listener(events)

    # -- reference data -----------------------------------------------------------------------
    def _ref(self, tenant: str, coll: str) -> dict[str, dict[str, Any]]:
        key = (tenant, coll)
        got = self._ref_cache.get(key)
        if got is None:
            field_ = {"Accounts": "Code", "TaxRates": "TaxType", "Currencies": "Code", "Items": "Code",
                      "TrackingCategories": "TrackingCategoryID"}[coll]
            got = {str(d.get(field_)): d for d in self.store.query(coll, tenant)}
            if coll == "Accounts":
                got.update({f"id:{d['AccountID'].lower()}": d for d in list(got.values())})
            self._ref_cache[key] = got
        return got

    def _account(self, tenant: str, spec: Any) -> dict[str, Any] | None:
        if not isinstance(spec, dict):
            return None
        accounts = self._ref(tenant, "Accounts")
        if spec.get("AccountID"):
            return accounts.get(f"id:{str(spec['AccountID']).lower()}")
        if spec.get("Code"):
            return accounts.get(str(spec["Code"]))
        return None

    def tax_rate(self, tenant: str, tax_type: str | None) -> Decimal | None:
        """The effective rate (percent) of an active tax type of this organisation; None if unknown."""
        t = self._ref(tenant, "TaxRates").get((tax_type or "NONE").upper())
        if t is None or t.get("Status") != "ACTIVE":
            return None
        return Decimal(str(t.get("EffectiveRate", 0)))

    def _contact(self, tenant: str, spec: Any, tx: _Tx) -> dict[str, Any] | None:
        if not isinstance(spec, dict):
            return None
        if spec.get("ContactID"):
            return self.store.get("Contacts", tenant, str(spec["ContactID"]).lower())
        if spec.get("ContactNumber"):
            found = self.store.query("Contacts", tenant, "ContactNumber = ?", [spec["ContactNumber"]], limit=1)
            return found[0] if found else None
        if spec.get("Name"):
            found = self.store.query("Contacts", tenant, "Name = ?", [spec["Name"]], limit=1)
            if found:
                return found[0]
            # Xero creates a contact named on a new document
            doc, errors = self._build_Contacts(tenant, {"Name": spec["Name"]}, None, tx)
            if errors:
                return None
            self._save("Contacts", tenant, doc, tx, created=True)
            return doc
        return None

    def _delete_account(self, req: Request) -> Response:
        tenant = req.params["tenant"]
        with self.store.tx() as c:
            tx = _Tx(c)
            acc = self.find("Accounts", tenant, req.params["id"])
            if acc is None:
                raise _Rollback(_not_found())
            if acc.get("SystemAccount"):
                raise _Rollback(_validation_exception([_err(self._public(acc), ["System accounts cannot be deleted"])]))
            acc["Status"] = "DELETED"
            self._save("Accounts", tenant, acc, tx, created=False)
        return Response(200, self._envelope("Accounts", [acc]))

    # -- Python API: seeding and direct reads -----------------------------------------------------
    def bulk_create(self, coll: str, tenant: str, items: Iterable[dict[str, Any]], *, chunk: int = 1000,
                    publish: bool = False) -> Iterator[dict[str, Any]]:
        """Create (or update, when an item carries its id) many documents without HTTP.

        Runs the same validation and side effects as the API (payments settle invoices, allocations
        reduce AmountDue), one transaction per ``chunk``. Yields each result (a document, or the item
        with ``HasErrors`` and ``ValidationErrors``). Webhook events are published only if ``publish``.
        For Payments every item creates a payment.
        """
        buf: list[dict[str, Any]] = []

        def flush() -> Iterator[dict[str, Any]]:
            with self.store.tx() as c:
                tx = _Tx(c)
                out = []
                for it in buf:
                    create_only = coll == "Payments" or not it.get(ID_FIELD[coll])
                    out.append(self._apply(coll, tenant, it, create_only, tx))
            if publish:
                self._publish(tx.events)
            buf.clear()
            yield from (self._public(d) for d in out)

        for it in items:
            buf.append(it)
            if len(buf) >= chunk:
                yield from flush()
        if buf:
            yield from flush()

    def all(self, coll: str, tenant: str) -> list[dict[str, Any]]:
        return [self._public(d) for d in self.store.query(coll, tenant)]

    def iter_all(self, coll: str, tenant: str) -> Iterator[dict[str, Any]]:
        for raw in self.store.query_raw(coll, tenant):
            yield self._public(loads(raw))


def _single_object_body(req: Request) -> bool:
    """Whether the spec's body of this operation is one item (``Payment``) rather than an envelope."""
    op = xero_spec.find_operation(req.method, req.path)
    ref = str(((op.body if op else None) or {}).get("$ref", ""))
    return bool(ref) and ref.rsplit("/", 1)[-1] in {"Payment", "Account", "Currency", "TrackingCategory",
                                                    "TrackingOption", "PaymentDelete"}


def _singular(coll: str) -> str:
    return {"Currencies": "Currency", "TaxRates": "TaxRate", "BankTransactions": "BankTransaction"}.get(coll, coll[:-1])



def _sort_key(v: Any) -> tuple[int, Any]:
    if v is None:
        return (1, "")
    if isinstance(v, (int, Decimal)) and not isinstance(v, bool):
        return (0, Decimal(v))
    d = as_date(v) if isinstance(v, str) and v.startswith("/Date(") else None
    return (0, d.isoformat() if d else str(v))


def _parse_instant(value: str) -> datetime:
    try:
        if value[:4].isdigit():
            since = datetime.fromisoformat(value.replace("Z", "+00:00"))
        else:
            since = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        raise ApiError(400, {"ErrorNumber": 14, "Type": "PostDataInvalidException",
                             "Message": f"If-Modified-Since is not a date: {value!r}"}) from None
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return since.astimezone(UTC)
