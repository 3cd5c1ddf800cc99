"""A Xero Accounting API compatible sandbox (subset).

OAuth2 client-credentials at ``/connect/token``; under ``/api.xro/2.0/``: Contacts, Invoices,
CreditNotes (with Allocations), Payments, BankTransactions, Accounts, TaxRates, Currencies, with
Xero's envelopes, field names, statuses and error shapes (checked against the official OpenAPI spec
in the tests). ``Xero-Tenant-Id``; pages of 100 (``pageSize`` up to 1000, with a ``pagination``
block); ``where`` / ``order`` / ``If-Modified-Since``; batch create/update with
``summarizeErrors=false``; ``Idempotency-Key`` replay and rejection; minute/day/concurrent limits.

Money side effects follow Xero: payments and credit-note allocations reduce an invoice's
``AmountDue`` (``AmountPaid``/``AmountCredited``); a fully settled invoice becomes ``PAID``;
deleting a payment (POST ``{"Status": "DELETED"}``) reopens it.

Performance: common filters (Reference ==/StartsWith, Status, InvoiceNumber, ContactNumber,
Contact.ContactID, Date ranges, If-Modified-Since) run as SQL on indexed columns; only the rest of a
``where`` clause is evaluated in Python. ``bulk_create`` seeds large datasets without HTTP.
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
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any

from sync_pipeline.contracts import xero_spec
from sync_pipeline.contracts.codec import dumps, loads
from sync_pipeline.domain.money import MINOR_UNITS
from sync_pipeline.sandbox import xero_catalog as catalog
from sync_pipeline.sandbox import xero_reference as ref
from sync_pipeline.sandbox.harvest import SlidingWindowLimiter
from sync_pipeline.sandbox.server import ApiError, App, Request, Response
from sync_pipeline.sandbox.storage import DocStore
from sync_pipeline.sandbox.xero_requests import NOT_FOUND, check_request
from sync_pipeline.sandbox.xero_webhooks import WebhookSender
from sync_pipeline.sandbox.xero_where import Column, WhereError, as_date, get_path, plan

API = "/api.xro/2.0"
PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
# The sandbox's own bound on any number it is sent (Xero documents none): every amount, quantity and rate
# stays below it, so a line's quantity x unit amount keeps its cents exactly in 28-digit decimals.
MAX_AMOUNT = Decimal(10) ** 12

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

INVOICE_STATUSES = {"DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED", "DELETED"}
EDITABLE = {"DRAFT", "SUBMITTED"}
WEBHOOK_CATEGORY = {"Invoices": "INVOICE", "Contacts": "CONTACT", "CreditNotes": "CREDITNOTE"}


def ms_date(d: datetime | date) -> str:
    if not isinstance(d, datetime):
        d = datetime(d.year, d.month, d.day, tzinfo=UTC)
    return f"/Date({int(d.timestamp() * 1000)}+0000)/"


def utcnow() -> datetime:
    return datetime.now(UTC)


def _dec(value: Any, field: str, errors: list[str]) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool):
        errors.append(f"{field} must be a number")
        return None
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        errors.append(f"{field} must be a number")
        return None
    if not d.is_finite():
        errors.append(f"{field} must be a number")
        return None
    if abs(d) >= MAX_AMOUNT:
        errors.append(f"{field} {value} is too large (the sandbox takes amounts below {MAX_AMOUNT:,})")
        return None
    return d


def _parse_date(value: Any, field: str, errors: list[str]) -> date | None:
    if value is None or value == "":
        return None
    d = as_date(value) if isinstance(value, str) else None
    if d is None:
        errors.append(f"{field} must be a date in YYYY-MM-DD form")
    return d


def _exp(currency: str) -> Decimal:
    return Decimal(1).scaleb(-MINOR_UNITS.get(currency, ref.minor_units(currency)))


def _q(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(_exp(currency), rounding=ROUND_HALF_UP)


def _err(item: dict[str, Any], messages: list[str]) -> dict[str, Any]:
    return {**item, "HasErrors": True, "StatusAttributeString": "ERROR",
            "ValidationErrors": [{"Message": m} for m in messages]}


def _not_found() -> ApiError:
    """Xero's 404: the plain text "The resource you're looking for cannot be found" (not JSON)."""
    return ApiError(404, NOT_FOUND)


def _validation_exception(elements: list[dict[str, Any]], message: str = "A validation exception occurred"):
    return ApiError(400, {"ErrorNumber": 10, "Type": "ValidationException", "Message": message,
                          "Elements": elements})


@dataclass
class Event:
    """A change a webhook subscriber hears about (INVOICE, CONTACT, CREDITNOTE; CREATE or UPDATE)."""

    tenant: str
    category: str
    type: str
    resource_id: str
    at: datetime = field(default_factory=utcnow)
    data: dict[str, Any] | None = None  # CREDITNOTE events carry Type and Status


class _Tx:
    """What one write request changed: documents to store and events to publish after commit."""

    def __init__(self, conn) -> None:
        self.c = conn
        self.events: list[Event] = []


class XeroSandbox(App):
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

    # -- builders: item (+ existing document) → (document, errors) --------------------------------
    def _build_Contacts(self, tenant: str, item: dict[str, Any], existing: dict[str, Any] | None, tx: _Tx):
        errors: list[str] = []
        doc = dict(existing or {})
        doc.update({k: v for k, v in item.items() if k not in ("ContactID", "UpdatedDateUTC")})
        name = doc.get("Name")
        if not name or not str(name).strip():
            errors.append("The contact name must be specified.")
        elif not existing or existing.get("Name") != name:
            clash = self.store.query("Contacts", tenant, "Name = ? AND ContactStatus IS NOT 'ARCHIVED'", [name],
                                     limit=1)
            if clash:
                errors.append(f"The contact name {name} is already assigned to another contact. "
                              "The contact name must be unique across all active contacts.")
        number = doc.get("ContactNumber")
        if number and (not existing or existing.get("ContactNumber") != number):
            if self.store.query("Contacts", tenant, "ContactNumber = ?", [number], limit=1):
                errors.append(f"The contact number {number} is already assigned to another contact.")
        if doc.get("ContactStatus", "ACTIVE") not in ("ACTIVE", "ARCHIVED", "GDPRREQUEST"):
            errors.append("ContactStatus must be ACTIVE, ARCHIVED or GDPRREQUEST")
        if (ccy := doc.get("DefaultCurrency")) and ccy not in self._ref(tenant, "Currencies"):
            errors.append(f"The currency {ccy} is not enabled for this organisation")
        doc["ContactID"] = (existing or {}).get("ContactID") or str(uuid.uuid4())
        doc.setdefault("ContactStatus", "ACTIVE")
        doc.setdefault("IsCustomer", True)
        doc.setdefault("IsSupplier", False)
        doc.setdefault("HasAttachments", False)
        doc.setdefault("HasValidationErrors", False)
        return doc, errors

    def _lines(self, tenant: str, doc: dict[str, Any], currency: str, errors: list[str], *, revenue: bool = True):
        lat = doc.get("LineAmountTypes") or "Exclusive"
        if lat not in ("Exclusive", "Inclusive", "NoTax"):
            errors.append("LineAmountTypes must be Exclusive, Inclusive or NoTax")
            lat = "Exclusive"
        doc["LineAmountTypes"] = lat
        lines = doc.get("LineItems") or []
        if not isinstance(lines, list) or not lines:
            errors.append("At least one line item is required")
            lines = []
        exp = _exp(currency)
        sub, tax = Decimal(0), Decimal(0)
        out = []
        for n, li in enumerate(lines, start=1):
            if not isinstance(li, dict):
                errors.append(f"LineItems[{n}] must be an object")
                continue
            qty = _dec(li.get("Quantity", 1), f"LineItems[{n}].Quantity", errors)
            qty = Decimal(1) if qty is None else qty
            unit = _dec(li.get("UnitAmount", 0), f"LineItems[{n}].UnitAmount", errors) or Decimal(0)
            disc = _dec(li.get("DiscountRate"), f"LineItems[{n}].DiscountRate", errors)
            gross = qty * unit * ((100 - disc) / 100 if disc is not None else 1)
            if abs(gross) >= MAX_AMOUNT:
                errors.append(f"Line {n}: the line amount {qty} x {unit} is too large (the sandbox takes "
                              f"amounts below {MAX_AMOUNT:,})")
                gross = Decimal(0)
            computed = gross.quantize(exp, rounding=ROUND_HALF_UP)
            given = _dec(li.get("LineAmount"), f"LineItems[{n}].LineAmount", errors)
            if given is not None and given != computed:
                errors.append(f"Line {n}: the line total {given} does not match the quantity x unit amount "
                              f"{computed}")
            if (item_code := li.get("ItemCode")) is not None and str(item_code) not in self._ref(tenant, "Items"):
                errors.append(f"Line {n}: Item code '{item_code}' is not valid.")
            if li.get("Tracking"):
                li = {**li, "Tracking": catalog.resolve_tracking(
                    li["Tracking"], list(self._ref(tenant, "TrackingCategories").values()), n, errors)}
            code = li.get("AccountCode")
            if code is not None and str(code) not in self._ref(tenant, "Accounts"):
                errors.append(f"Account code '{code}' is not a valid code for this document.")
            tax_type = li.get("TaxType")
            if tax_type is None and code is not None:
                tax_type = (self._ref(tenant, "Accounts").get(str(code)) or {}).get("TaxType")
            rate = self.tax_rate(tenant, tax_type) if lat != "NoTax" else Decimal(0)
            if rate is None:
                errors.append(f"The TaxType code {tax_type} does not exist or cannot be used for this type of "
                              "transaction.")
                rate = Decimal(0)
            if lat == "Exclusive":
                line_tax = (computed * rate / 100).quantize(exp, rounding=ROUND_HALF_UP)
            elif lat == "Inclusive":
                line_tax = (computed - computed / (1 + rate / 100)).quantize(exp, rounding=ROUND_HALF_UP)
            else:
                line_tax = Decimal(0)
            # "TaxAmount ... can be overriden if the calculated TaxAmount is not correct" (Xero's spec): a given
            # TaxAmount replaces the calculated one. The sandbox refuses one more than ``tax_amount_tolerance``
            # minor units away from its calculation (its own rule, see docs/sandbox.md).
            given_tax = _dec(li.get("TaxAmount"), f"LineItems[{n}].TaxAmount", errors)
            if given_tax is not None and lat != "NoTax":
                off = abs(given_tax - line_tax)
                tolerance = self.tax_amount_tolerance
                if given_tax != given_tax.quantize(exp) or tolerance is not None and off > exp * tolerance:
                    errors.append(f"Line {n}: the tax amount {given_tax} is not a rounding of the calculated "
                                  f"{line_tax} ({tax_type} on {computed})")
                else:
                    line_tax = given_tax
            sub += computed if lat != "Inclusive" else computed - line_tax
            tax += line_tax
            out_li = {**li, "LineItemID": li.get("LineItemID") or str(uuid.uuid4()), "Quantity": qty,
                      "UnitAmount": unit, "LineAmount": computed, "TaxAmount": line_tax}
            if tax_type is not None:
                out_li["TaxType"] = str(tax_type).upper()
            out.append(out_li)
        doc["LineItems"] = out
        doc["SubTotal"], doc["TotalTax"], doc["Total"] = sub, tax, sub + tax

    def _currency(self, tenant: str, doc: dict[str, Any], errors: list[str], default: str | None = None) -> str:
        base = self.base_currency(tenant)
        currency = doc.get("CurrencyCode") or default or base
        if currency not in self._ref(tenant, "Currencies"):
            errors.append(f"The currency {currency} is not enabled for this organisation")
            currency = base
        doc["CurrencyCode"] = currency
        rate = _dec(doc.get("CurrencyRate"), "CurrencyRate", errors)
        if rate is not None and rate <= 0:
            errors.append("CurrencyRate must be greater than zero")
        doc["CurrencyRate"] = rate if rate and rate > 0 else ref.currency_rate(currency, base)
        return currency

    def _dates(self, doc: dict[str, Any], errors: list[str], due_days: int | None = 30) -> date:
        d = _parse_date(doc.get("Date"), "Date", errors) or utcnow().date()
        doc["Date"], doc["DateString"] = ms_date(d), f"{d.isoformat()}T00:00:00"
        if due_days is not None:
            due = _parse_date(doc.get("DueDate"), "DueDate", errors) or (d + timedelta(days=due_days))
            doc["DueDate"], doc["DueDateString"] = ms_date(due), f"{due.isoformat()}T00:00:00"
        return d

    def _build_Invoices(self, tenant: str, item: dict[str, Any], existing: dict[str, Any] | None, tx: _Tx):
        errors: list[str] = []
        old_status = (existing or {}).get("Status")
        new_status = str(item.get("Status") or old_status or "DRAFT").upper()
        if existing:
            settled = (existing.get("AmountPaid") or 0) or (existing.get("AmountCredited") or 0)
            content = set(item) - {"InvoiceID", "Status", "Reference", "UpdatedDateUTC", "DueDate",
                                   "ExpectedPaymentDate", "PlannedPaymentDate", "SentToContact"}
            if old_status in ("PAID", "VOIDED", "DELETED"):
                if content or new_status != old_status:
                    return {}, [f"Invoice not of valid status for modification (status {old_status})"]
            elif old_status == "AUTHORISED":
                if content and settled:
                    return {}, ["This document cannot be edited as it has a payment or credit note allocated to it."]
                if new_status == "VOIDED" and settled:
                    return {}, ["Invoice has payments or credit notes applied; remove them before voiding it."]
                if new_status in ("DELETED", "DRAFT", "SUBMITTED"):
                    return {}, [f"An AUTHORISED invoice cannot be set to {new_status}; void it instead."]
            elif new_status == "VOIDED":
                return {}, [f"A {old_status} invoice cannot be voided; delete it instead."]
            if new_status == "PAID" and old_status != "PAID":
                return {}, ["Invoice status cannot be set to PAID; apply payments instead."]
        elif new_status not in ("DRAFT", "SUBMITTED", "AUTHORISED"):
            errors.append(f"A new invoice must be DRAFT, SUBMITTED or AUTHORISED, not {new_status}")
        doc = dict(existing or {})
        doc.update({k: v for k, v in item.items() if k not in ("InvoiceID", "UpdatedDateUTC", "Payments",
                                                              "CreditNotes", "AmountPaid", "AmountDue",
                                                              "AmountCredited")})
        if doc.get("Type") not in ("ACCREC", "ACCPAY"):
            errors.append("Invoice Type must be ACCREC or ACCPAY")
        if new_status not in INVOICE_STATUSES:
            errors.append(f"Status {new_status} is not valid")
        doc["Status"] = new_status
        cdoc = self._contact(tenant, doc.get("Contact"), tx)
        if cdoc is None:
            errors.append("A Contact must be specified with a valid ContactID, ContactNumber or Name")
        else:
            doc["Contact"] = _contact_ref(cdoc)
        currency = self._currency(tenant, doc, errors, default=(cdoc or {}).get("DefaultCurrency"))
        self._dates(doc, errors)
        if existing is None or "LineItems" in item or "LineAmountTypes" in item:
            self._lines(tenant, doc, currency, errors)
        number = doc.get("InvoiceNumber")
        if number and doc.get("Type") == "ACCREC" and (existing is None or existing.get("InvoiceNumber") != number):
            clash = self.store.query("Invoices", tenant, "InvoiceNumber = ? AND Status NOT IN ('DELETED', 'VOIDED')",
                                     [number], limit=1)
            if clash:
                errors.append(f"Invoice # must be unique. {number} is already used.")
        doc["InvoiceID"] = (existing or {}).get("InvoiceID") or str(uuid.uuid4())
        doc.setdefault("Payments", [])
        doc.setdefault("CreditNotes", [])
        doc.setdefault("Prepayments", [])
        doc.setdefault("Overpayments", [])
        doc.setdefault("HasAttachments", False)
        doc.setdefault("IsDiscounted", False)
        doc.setdefault("SentToContact", False)
        if errors:
            return doc, errors
        if not doc.get("InvoiceNumber"):
            prefix = "INV" if doc["Type"] == "ACCREC" else "BILL"
            doc["InvoiceNumber"] = f"{prefix}-{self.store.next_value(f'invno:{tenant}:{prefix}', tx.c):05d}"
        _settle_invoice(doc)
        return doc, errors

    def _build_CreditNotes(self, tenant: str, item: dict[str, Any], existing: dict[str, Any] | None, tx: _Tx):
        errors: list[str] = []
        old_status = (existing or {}).get("Status")
        new_status = str(item.get("Status") or old_status or "DRAFT").upper()
        if existing:
            content = set(item) - {"CreditNoteID", "Status", "Reference", "UpdatedDateUTC", "SentToContact"}
            used = (existing.get("Allocations") or existing.get("Payments"))
            if old_status in ("PAID", "VOIDED", "DELETED") and (content or new_status != old_status):
                return {}, [f"Credit note not of valid status for modification (status {old_status})"]
            if old_status == "AUTHORISED":
                if (content or new_status == "VOIDED") and used:
                    return {}, ["This credit note has allocations or refunds; remove them first."]
                if new_status in ("DELETED", "DRAFT", "SUBMITTED"):
                    return {}, [f"An AUTHORISED credit note cannot be set to {new_status}; void it instead."]
            if new_status == "PAID" and old_status != "PAID":
                return {}, ["Credit note status cannot be set to PAID; allocate it instead."]
        elif new_status not in ("DRAFT", "SUBMITTED", "AUTHORISED"):
            errors.append(f"A new credit note must be DRAFT, SUBMITTED or AUTHORISED, not {new_status}")
        doc = dict(existing or {})
        doc.update({k: v for k, v in item.items() if k not in ("CreditNoteID", "UpdatedDateUTC", "Allocations",
                                                              "Payments", "RemainingCredit")})
        if doc.get("Type") not in ("ACCRECCREDIT", "ACCPAYCREDIT"):
            errors.append("Credit note Type must be ACCRECCREDIT or ACCPAYCREDIT")
        doc["Status"] = new_status
        cdoc = self._contact(tenant, doc.get("Contact"), tx)
        if cdoc is None:
            errors.append("A Contact must be specified with a valid ContactID, ContactNumber or Name")
        else:
            doc["Contact"] = _contact_ref(cdoc)
        currency = self._currency(tenant, doc, errors, default=(cdoc or {}).get("DefaultCurrency"))
        self._dates(doc, errors, due_days=None)
        if existing is None or "LineItems" in item or "LineAmountTypes" in item:
            self._lines(tenant, doc, currency, errors)
        doc["CreditNoteID"] = (existing or {}).get("CreditNoteID") or str(uuid.uuid4())
        doc.setdefault("Allocations", [])
        doc.setdefault("Payments", [])
        doc.setdefault("HasAttachments", False)
        doc.setdefault("SentToContact", False)
        if errors:
            return doc, errors
        if not doc.get("CreditNoteNumber"):
            doc["CreditNoteNumber"] = f"CN-{self.store.next_value(f'cnno:{tenant}', tx.c):05d}"
        _settle_credit_note(doc)
        # allocations given on creation (Xero accepts them on PUT CreditNotes)
        for alloc in item.get("Allocations") or []:
            res = self._allocate_one(tenant, doc, alloc, tx, save_credit_note=False)
            if res.get("ValidationErrors"):
                errors.extend(e["Message"] for e in res["ValidationErrors"])
        return doc, errors

    def _build_BankTransactions(self, tenant: str, item: dict[str, Any], existing: dict[str, Any] | None, tx: _Tx):
        errors: list[str] = []
        if existing and existing.get("Status") in ("DELETED", "VOIDED"):
            return {}, [f"Bank transaction not of valid status for modification (status {existing['Status']})"]
        if existing and existing.get("IsReconciled") and set(item) - {"BankTransactionID", "IsReconciled",
                                                                      "Reference", "Status"}:
            return {}, ["This bank transaction has been reconciled and cannot be edited."]
        doc = dict(existing or {})
        doc.update({k: v for k, v in item.items() if k not in ("BankTransactionID", "UpdatedDateUTC")})
        types = ("RECEIVE", "RECEIVE-OVERPAYMENT", "RECEIVE-PREPAYMENT", "SPEND", "SPEND-OVERPAYMENT",
                 "SPEND-PREPAYMENT", "RECEIVE-TRANSFER", "SPEND-TRANSFER")
        if doc.get("Type") not in types:
            errors.append("Bank transaction Type must be RECEIVE or SPEND (or their -OVERPAYMENT/-PREPAYMENT forms)")
        status = str(doc.get("Status") or "AUTHORISED").upper()
        if status not in ("AUTHORISED", "DELETED", "VOIDED"):
            errors.append(f"Bank transaction Status must be AUTHORISED or DELETED, not {status}")
        doc["Status"] = status
        account = self._account(tenant, doc.get("BankAccount"))
        if account is None or account.get("Type") != "BANK":
            errors.append("A bank account must be specified with a valid AccountID or Code of a BANK account")
        else:
            doc["BankAccount"] = {"AccountID": account["AccountID"], "Code": account["Code"],
                                  "Name": account["Name"]}
        if doc.get("Contact") is not None:
            cdoc = self._contact(tenant, doc.get("Contact"), tx)
            if cdoc is None:
                errors.append("The Contact must have a valid ContactID, ContactNumber or Name")
            else:
                doc["Contact"] = _contact_ref(cdoc)
        currency = self._currency(tenant, doc, errors, default=(account or {}).get("CurrencyCode"))
        if account is not None and account.get("CurrencyCode") and account["CurrencyCode"] != currency:
            errors.append(f"The bank account {account['Code']} is in {account['CurrencyCode']}; a bank transaction "
                          f"in it cannot be in {currency}")
        self._dates(doc, errors, due_days=None)
        if existing is None or "LineItems" in item or "LineAmountTypes" in item:
            self._lines(tenant, doc, currency, errors)
        rec = doc.get("IsReconciled", False)
        if not isinstance(rec, bool):
            errors.append("IsReconciled must be true or false")
        doc["IsReconciled"] = bool(rec)
        doc["BankTransactionID"] = (existing or {}).get("BankTransactionID") or str(uuid.uuid4())
        doc.setdefault("HasAttachments", False)
        return doc, errors

    def _build_Accounts(self, tenant: str, item: dict[str, Any], existing: dict[str, Any] | None, tx: _Tx):
        errors: list[str] = []
        doc = dict(existing or {})
        doc.update({k: v for k, v in item.items() if k not in ("AccountID", "UpdatedDateUTC", "Class")})
        code = doc.get("Code")
        if not code:
            errors.append("Please enter a code for this account.")
        elif (existing is None or existing.get("Code") != code) and str(code) in self._ref(tenant, "Accounts"):
            errors.append(f"Please enter a unique Code. {code} is already used by another account.")
        if not doc.get("Name"):
            errors.append("Please enter a name for this account.")
        typ = doc.get("Type")
        if typ not in ref.CLASS_OF_TYPE:
            errors.append(f"Account Type {typ} is not valid")
        doc["Class"] = ref.CLASS_OF_TYPE.get(typ, "ASSET")
        if typ == "BANK":
            doc.setdefault("BankAccountType", "BANK")
            doc.setdefault("CurrencyCode", self.base_currency(tenant))
            doc["EnablePaymentsToAccount"] = True
        doc.setdefault("Status", "ACTIVE")
        doc.setdefault("EnablePaymentsToAccount", False)
        doc.setdefault("ShowInExpenseClaims", False)
        doc.setdefault("HasAttachments", False)
        doc.setdefault("AddToWatchlist", False)
        doc.setdefault("TaxType", "NONE")
        doc["AccountID"] = (existing or {}).get("AccountID") or str(uuid.uuid4())
        return doc, errors

    def _build_TaxRates(self, tenant: str, item: dict[str, Any], existing: dict[str, Any] | None, tx: _Tx):
        errors: list[str] = []
        doc = dict(existing or {})
        doc.update({k: v for k, v in item.items() if k not in ("UpdatedDateUTC", "EffectiveRate", "DisplayTaxRate")})
        if not doc.get("Name"):
            errors.append("Please enter a name for this tax rate.")
        if not doc.get("TaxType"):
            n = self.store.next_value(f"taxno:{tenant}", tx.c)
            doc["TaxType"] = f"TAX{n:03d}"
        comps = doc.get("TaxComponents") or []
        if not comps:
            errors.append("A tax rate needs at least one tax component.")
        total = Decimal(0)
        for n, comp in enumerate(comps, start=1):
            r = _dec(comp.get("Rate"), f"TaxComponents[{n}].Rate", errors) or Decimal(0)
            total += r
        doc["EffectiveRate"] = doc["DisplayTaxRate"] = total
        doc.setdefault("Status", "ACTIVE")
        doc.setdefault("ReportTaxType", "OUTPUT")
        for k in ("CanApplyToAssets", "CanApplyToEquity", "CanApplyToExpenses", "CanApplyToLiabilities",
                  "CanApplyToRevenue"):
            doc.setdefault(k, True)
        return doc, errors

    def _build_Items(self, tenant: str, item: dict[str, Any], existing: dict[str, Any] | None, tx: _Tx):
        code = item.get("Code")
        taken = code is not None and (existing is None or existing.get("Code") != code) and \
            str(code) in self._ref(tenant, "Items")
        return catalog.build_item(item, existing, taken)

    def _build_TrackingCategories(self, tenant: str, item: dict[str, Any], existing: dict[str, Any] | None,
                                  tx: _Tx):
        others = [c for c in self._ref(tenant, "TrackingCategories").values()
                  if c["TrackingCategoryID"] != (existing or {}).get("TrackingCategoryID")]
        return catalog.build_category(item, existing, others)

    def _add_tracking_option(self, req: Request) -> Response:
        tenant = req.params["tenant"]

        def run() -> Response:
            option = req.json()
            with self.store.tx() as c:
                tx = _Tx(c)
                cat = self.find("TrackingCategories", tenant, req.params["id"])
                if cat is None:
                    raise _Rollback(_not_found())
                errors = catalog.add_option(cat, option if isinstance(option, dict) else {})
                if errors:
                    raise _Rollback(_validation_exception([_err(option, errors)]))
                self._save("TrackingCategories", tenant, cat, tx, created=False)
            return Response(200, {"Options": [cat["Options"][-1]]})

        return self._idempotent(req, run)

    def add_tracking(self, tenant: str, category: str, options: Iterable[str]) -> dict[str, Any]:
        """Create a tracking category with its options without HTTP (seeding); returns it."""
        with self.store.tx() as c:
            tx = _Tx(c)
            result = self._apply("TrackingCategories", tenant,
                                 {"Name": category, "Options": [{"Name": o} for o in options]}, True, tx)
        if result.get("HasErrors"):
            raise ValueError(f"cannot add tracking category {category}: {result['ValidationErrors']}")
        return result

    def _build_Currencies(self, tenant: str, item: dict[str, Any], existing: dict[str, Any] | None, tx: _Tx):
        code = str(item.get("Code") or "")
        if code not in xero_spec.schema("CurrencyCode")["enum"]:  # every currency Xero lists can be added
            return item, [f"Currency code {code or '(none)'} is not a currency Xero supports"]
        return {"Code": code, "Description": item.get("Description") or ref.CURRENCIES.get(code, code)}, []

    # -- payments ------------------------------------------------------------------------------
    def _build_Payments(self, tenant: str, item: dict[str, Any], existing: dict[str, Any] | None, tx: _Tx):
        errors: list[str] = []
        doc = {k: v for k, v in item.items() if k not in ("PaymentID", "UpdatedDateUTC", "PaymentType",
                                                          "BankAmount", "HasAccount", "HasValidationErrors")}
        target, kind = None, None
        inv_spec, cn_spec = item.get("Invoice"), item.get("CreditNote")
        if isinstance(inv_spec, dict) and (inv_spec.get("InvoiceID") or inv_spec.get("InvoiceNumber")):
            target = self.find("Invoices", tenant, str(inv_spec.get("InvoiceID") or inv_spec["InvoiceNumber"]))
            kind = "Invoices"
            if target is None:
                errors.append("The Invoice could not be found: give a valid InvoiceID or InvoiceNumber")
        elif isinstance(cn_spec, dict) and (cn_spec.get("CreditNoteID") or cn_spec.get("CreditNoteNumber")):
            target = self.find("CreditNotes", tenant,
                               str(cn_spec.get("CreditNoteID") or cn_spec["CreditNoteNumber"]))
            kind = "CreditNotes"
            if target is None:
                errors.append("The CreditNote could not be found: give a valid CreditNoteID or CreditNoteNumber")
        elif item.get("InvoiceNumber"):
            target, kind = self.find("Invoices", tenant, str(item["InvoiceNumber"])), "Invoices"
            if target is None:
                errors.append(f"Invoice {item['InvoiceNumber']} could not be found")
        else:
            errors.append("A payment must be applied to an Invoice or a CreditNote")
        account = self._account(tenant, item.get("Account"))
        if account is None:
            errors.append("A payment needs an Account with a valid AccountID or Code")
        elif not (account.get("Type") == "BANK" or account.get("EnablePaymentsToAccount")):
            errors.append(f"Account {account['Code']} is not a bank account and does not have "
                          "EnablePaymentsToAccount set; payments cannot be made to it.")
        amount = _dec(item.get("Amount"), "Amount", errors)
        if amount is None and not errors:
            errors.append("The payment Amount must be specified")
        d = _parse_date(item.get("Date"), "Date", errors) or utcnow().date()
        if errors or target is None or account is None or amount is None:
            return doc, errors
        currency = target["CurrencyCode"]
        if amount <= 0:
            errors.append("Payment amount must be greater than zero")
        if _q(amount, currency) != amount:
            errors.append(f"Payment amount {amount} has more decimal places than {currency} allows")
        if kind == "Invoices":
            if target["Status"] != "AUTHORISED":
                errors.append(f"Payments can only be made against AUTHORISED invoices; this invoice is "
                              f"{target['Status']}")
            outstanding = Decimal(str(target.get("AmountDue", 0)))
        else:
            if target["Status"] != "AUTHORISED":
                errors.append(f"Refunds can only be made against AUTHORISED credit notes; this credit note is "
                              f"{target['Status']}")
            outstanding = Decimal(str(target.get("RemainingCredit", 0)))
        if not errors and amount > outstanding:
            errors.append(f"Payment amount ({amount}) exceeds the amount outstanding on this document "
                          f"({outstanding}).")
        rate = _dec(item.get("CurrencyRate"), "CurrencyRate", errors)
        if rate is not None and rate <= 0:
            errors.append("CurrencyRate must be greater than zero")
        if errors:
            return doc, errors
        rate = rate or Decimal(str(target.get("CurrencyRate") or 1))
        bank_ccy = account.get("CurrencyCode") or self.base_currency(tenant)
        if bank_ccy == currency:
            bank_amount = amount
        elif bank_ccy == self.base_currency(tenant):
            bank_amount = _q(amount / rate, bank_ccy)
        else:
            errors.append(f"Account {account['Code']} is in {bank_ccy}; a {currency} document can be paid into a "
                          f"{currency} or base-currency ({self.base_currency(tenant)}) account only")
            return doc, errors
        pid = str(uuid.uuid4())
        ptype = {("Invoices", "ACCREC"): "ACCRECPAYMENT", ("Invoices", "ACCPAY"): "ACCPAYPAYMENT",
                 ("CreditNotes", "ACCRECCREDIT"): "ARCREDITPAYMENT",
                 ("CreditNotes", "ACCPAYCREDIT"): "APCREDITPAYMENT"}[(kind, target["Type"])]
        doc.update({
            "PaymentID": pid, "Date": ms_date(d), "Amount": amount, "BankAmount": bank_amount,
            "CurrencyRate": rate, "Reference": item.get("Reference") or "", "IsReconciled": bool(item.get("IsReconciled")),
            "Status": "AUTHORISED", "PaymentType": ptype, "HasAccount": True, "HasValidationErrors": False,
            "Account": {"AccountID": account["AccountID"], "Code": account["Code"]},
        })
        summary = {"PaymentID": pid, "Date": ms_date(d), "Amount": amount, "CurrencyRate": rate,
                   "Reference": doc["Reference"], "HasAccount": True, "HasValidationErrors": False}
        if kind == "Invoices":
            doc.pop("CreditNote", None)
            doc["Invoice"] = {"InvoiceID": target["InvoiceID"], "InvoiceNumber": target.get("InvoiceNumber"),
                              "Type": target["Type"], "CurrencyCode": currency}
            if target.get("Contact"):
                doc["Invoice"]["Contact"] = target["Contact"]
            target["Payments"] = [*(target.get("Payments") or []), summary]
            _settle_invoice(target, paid_on=d)
            self._save("Invoices", tenant, target, tx, created=False)
        else:
            doc.pop("Invoice", None)
            doc["CreditNote"] = {"CreditNoteID": target["CreditNoteID"],
                                 "CreditNoteNumber": target.get("CreditNoteNumber"), "Type": target["Type"],
                                 "CurrencyCode": currency}
            if target.get("Contact"):
                doc["CreditNote"]["Contact"] = target["Contact"]
            target["Payments"] = [*(target.get("Payments") or []), summary]
            _settle_credit_note(target, paid_on=d)
            self._save("CreditNotes", tenant, target, tx, created=False)
        return doc, errors

    def _delete_payment(self, tenant: str, item: dict[str, Any], tx: _Tx) -> dict[str, Any]:
        pid = str(item.get("PaymentID") or "")
        pay = self.store.get("Payments", tenant, pid.lower())
        if pay is None:
            return _err(item, [f"Payment {pid} could not be found"])
        status = str(item.get("Status") or "").upper()
        if status != "DELETED":
            return _err(item, ["A payment can only be changed by deleting it: POST {\"Status\": \"DELETED\"}"])
        if pay["Status"] == "DELETED":
            return _err(item, ["This payment has already been deleted"])
        pay["Status"] = "DELETED"
        if pay.get("Invoice"):
            inv = self.store.get("Invoices", tenant, pay["Invoice"]["InvoiceID"].lower())
            if inv is not None:
                inv["Payments"] = [p for p in inv.get("Payments") or [] if p["PaymentID"] != pay["PaymentID"]]
                _settle_invoice(inv)
                self._save("Invoices", tenant, inv, tx, created=False)
        elif pay.get("CreditNote"):
            cn = self.store.get("CreditNotes", tenant, pay["CreditNote"]["CreditNoteID"].lower())
            if cn is not None:
                cn["Payments"] = [p for p in cn.get("Payments") or [] if p["PaymentID"] != pay["PaymentID"]]
                _settle_credit_note(cn)
                self._save("CreditNotes", tenant, cn, tx, created=False)
        self._save("Payments", tenant, pay, tx, created=False)
        return pay

    # -- credit note allocations ---------------------------------------------------------------
    def _allocate(self, req: Request) -> Response:
        tenant = req.params["tenant"]

        def run() -> Response:
            items = self._items("Allocations", req)
            summarize = (req.arg("summarizeErrors") or "true").lower() != "false"
            with self.store.tx() as c:
                tx = _Tx(c)
                cn = self.find("CreditNotes", tenant, req.params["id"])
                if cn is None:
                    raise _Rollback(_not_found())
                results = [self._allocate_one(tenant, cn, a, tx) for a in items]
                failed = [r for r in results if r.get("ValidationErrors")]
                if failed and summarize:
                    raise _Rollback(_validation_exception(failed))
            self._publish(tx.events)
            return Response(200, self._envelope("Allocations", results))

        return self._idempotent(req, run)

    def _allocate_one(self, tenant: str, cn: dict[str, Any], alloc: dict[str, Any], tx: _Tx,
                      save_credit_note: bool = True) -> dict[str, Any]:
        errors: list[str] = []
        inv_spec = alloc.get("Invoice") or {}
        inv = None
        if isinstance(inv_spec, dict) and (inv_spec.get("InvoiceID") or inv_spec.get("InvoiceNumber")):
            inv = self.find("Invoices", tenant, str(inv_spec.get("InvoiceID") or inv_spec["InvoiceNumber"]))
        if inv is None:
            errors.append("The Invoice of an allocation must be given with a valid InvoiceID or InvoiceNumber")
        amount = _dec(alloc.get("Amount"), "Amount", errors)
        if amount is None and not errors:
            errors.append("The allocation Amount must be specified")
        d = _parse_date(alloc.get("Date"), "Date", errors) or utcnow().date()
        if not errors:
            assert inv is not None and amount is not None
            if cn.get("Status") != "AUTHORISED":
                errors.append(f"Only AUTHORISED credit notes can be allocated; this one is {cn.get('Status')}")
            if inv.get("Status") != "AUTHORISED":
                errors.append(f"Credit notes can only be allocated to AUTHORISED invoices; this one is "
                              f"{inv.get('Status')}")
            if inv.get("CurrencyCode") != cn.get("CurrencyCode"):
                errors.append(f"The credit note is in {cn.get('CurrencyCode')} and the invoice in "
                              f"{inv.get('CurrencyCode')}; an allocation needs the same currency")
            if (inv.get("Contact") or {}).get("ContactID") != (cn.get("Contact") or {}).get("ContactID"):
                errors.append("The credit note and the invoice belong to different contacts")
            expected = {"ACCRECCREDIT": "ACCREC", "ACCPAYCREDIT": "ACCPAY"}.get(cn.get("Type"))
            if inv.get("Type") != expected:
                errors.append(f"A {cn.get('Type')} credit note can only be allocated to {expected} invoices")
            if amount <= 0:
                errors.append("Allocation amount must be greater than zero")
            remaining = Decimal(str(cn.get("RemainingCredit", 0)))
            due = Decimal(str(inv.get("AmountDue", 0)))
            if amount > remaining:
                errors.append(f"The amount to allocate ({amount}) exceeds the remaining credit ({remaining})")
            if amount > due:
                errors.append(f"The amount to allocate ({amount}) exceeds the amount due on the invoice ({due})")
        if errors:
            return {**alloc, "StatusAttributeString": "ERROR", "ValidationErrors": [{"Message": m} for m in errors]}
        assert inv is not None and amount is not None
        aid = str(uuid.uuid4())
        allocation = {"AllocationID": aid, "Amount": amount, "Date": ms_date(d), "IsDeleted": False,
                      "Invoice": {"InvoiceID": inv["InvoiceID"], "InvoiceNumber": inv.get("InvoiceNumber")}}
        cn["Allocations"] = [*(cn.get("Allocations") or []), allocation]
        _settle_credit_note(cn, paid_on=d)
        inv["CreditNotes"] = [*(inv.get("CreditNotes") or []), {
            "CreditNoteID": cn["CreditNoteID"], "CreditNoteNumber": cn.get("CreditNoteNumber"), "AllocationID": aid,
            "AppliedAmount": amount, "Date": ms_date(d), "Total": cn.get("Total"), "Type": cn.get("Type")}]
        _settle_invoice(inv, paid_on=d)
        self._save("Invoices", tenant, inv, tx, created=False)
        if save_credit_note:
            self._save("CreditNotes", tenant, cn, tx, created=False)
        return {**allocation, "CreditNote": {"CreditNoteID": cn["CreditNoteID"],
                                             "CreditNoteNumber": cn.get("CreditNoteNumber")},
                "StatusAttributeString": "OK"}

    def _delete_allocation(self, req: Request) -> Response:
        tenant, aid = req.params["tenant"], req.params["alloc"].lower()
        with self.store.tx() as c:
            tx = _Tx(c)
            cn = self.find("CreditNotes", tenant, req.params["id"])
            alloc = next((a for a in (cn or {}).get("Allocations") or [] if a["AllocationID"].lower() == aid), None)
            if cn is None or alloc is None:
                raise _Rollback(_not_found())
            cn["Allocations"] = [a for a in cn["Allocations"] if a["AllocationID"].lower() != aid]
            _settle_credit_note(cn)
            self._save("CreditNotes", tenant, cn, tx, created=False)
            inv = self.store.get("Invoices", tenant, alloc["Invoice"]["InvoiceID"].lower())
            if inv is not None:
                inv["CreditNotes"] = [x for x in inv.get("CreditNotes") or [] if x.get("AllocationID", "").lower() != aid]
                _settle_invoice(inv)
                self._save("Invoices", tenant, inv, tx, created=False)
        self._publish(tx.events)
        return Response(200, {**alloc, "IsDeleted": True, "CreditNote": {"CreditNoteID": cn["CreditNoteID"]}})

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

    def allocate(self, tenant: str, credit_note: str, allocations: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Allocate a credit note (id or number) to invoices without HTTP; results as the API returns them."""
        with self.store.tx() as c:
            tx = _Tx(c)
            cn = self.find("CreditNotes", tenant, credit_note)
            if cn is None:
                raise KeyError(f"credit note {credit_note} not found in tenant {tenant}")
            out = [self._allocate_one(tenant, cn, a, tx) for a in allocations]
        self._publish(tx.events)
        return out

    def all(self, coll: str, tenant: str) -> list[dict[str, Any]]:
        return [self._public(d) for d in self.store.query(coll, tenant)]

    def iter_all(self, coll: str, tenant: str) -> Iterator[dict[str, Any]]:
        for raw in self.store.query_raw(coll, tenant):
            yield self._public(loads(raw))


class _Rollback(ApiError):
    """Raised inside a store transaction to undo it and answer with ``error``."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.status, error.body, error.headers)
        self.error = error


def _single_object_body(req: Request) -> bool:
    """Whether the spec's body of this operation is one item (``Payment``) rather than an envelope."""
    op = xero_spec.find_operation(req.method, req.path)
    ref = str(((op.body if op else None) or {}).get("$ref", ""))
    return bool(ref) and ref.rsplit("/", 1)[-1] in {"Payment", "Account", "Currency", "TrackingCategory",
                                                    "TrackingOption", "PaymentDelete"}


def _singular(coll: str) -> str:
    return {"Currencies": "Currency", "TaxRates": "TaxRate", "BankTransactions": "BankTransaction"}.get(coll, coll[:-1])


def _contact_ref(c: dict[str, Any]) -> dict[str, Any]:
    out = {"ContactID": c["ContactID"], "Name": c["Name"]}
    if c.get("ContactNumber"):
        out["ContactNumber"] = c["ContactNumber"]
    return out


def _sort_key(v: Any) -> tuple[int, Any]:
    if v is None:
        return (1, "")
    if isinstance(v, (int, Decimal)) and not isinstance(v, bool):
        return (0, Decimal(v))
    d = as_date(v) if isinstance(v, str) and v.startswith("/Date(") else None
    return (0, d.isoformat() if d else str(v))


def _settle_invoice(inv: dict[str, Any], paid_on: date | None = None) -> None:
    """Recompute AmountPaid/AmountCredited/AmountDue and PAID status from payments and allocations."""
    ccy = inv.get("CurrencyCode", "GBP")
    total = Decimal(str(inv.get("Total") or 0))
    paid = sum((Decimal(str(p["Amount"])) for p in inv.get("Payments") or []), Decimal(0))
    credited = sum((Decimal(str(c["AppliedAmount"])) for c in inv.get("CreditNotes") or []), Decimal(0))
    inv["AmountPaid"] = _q(paid, ccy)
    inv["AmountCredited"] = _q(credited, ccy)
    inv["AmountDue"] = _q(total - paid - credited, ccy)
    if inv.get("Status") == "AUTHORISED" and inv["AmountDue"] == 0 and (paid or credited):
        inv["Status"] = "PAID"
        if paid_on is not None:
            inv["FullyPaidOnDate"] = ms_date(paid_on)
    elif inv.get("Status") == "PAID" and inv["AmountDue"] != 0:
        inv["Status"] = "AUTHORISED"
        inv.pop("FullyPaidOnDate", None)


def _settle_credit_note(cn: dict[str, Any], paid_on: date | None = None) -> None:
    ccy = cn.get("CurrencyCode", "GBP")
    total = Decimal(str(cn.get("Total") or 0))
    used = sum((Decimal(str(a["Amount"])) for a in cn.get("Allocations") or []), Decimal(0))
    refunded = sum((Decimal(str(p["Amount"])) for p in cn.get("Payments") or []), Decimal(0))
    cn["RemainingCredit"] = _q(total - used - refunded, ccy)
    if cn.get("Status") == "AUTHORISED" and cn["RemainingCredit"] == 0 and (used or refunded):
        cn["Status"] = "PAID"
        if paid_on is not None:
            cn["FullyPaidOnDate"] = ms_date(paid_on)
    elif cn.get("Status") == "PAID" and cn["RemainingCredit"] != 0:
        cn["Status"] = "AUTHORISED"
        cn.pop("FullyPaidOnDate", None)


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
