"""A Xero Accounting API compatible sandbox (subset).

OAuth2 client-credentials at ``/connect/token``; resources under ``/api.xro/2.0/``
with Xero's envelopes, field names, statuses and error shapes; ``Xero-Tenant-Id``;
pages of 100; ``where``/``order``/``If-Modified-Since``; batch create with
``summarizeErrors=false``; ``Idempotency-Key`` replay and rejection.
"""

from __future__ import annotations

import base64
import hashlib
import math
import secrets
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any

from sync_pipeline.domain.money import MINOR_UNITS
from sync_pipeline.sandbox.harvest import SlidingWindowLimiter
from sync_pipeline.sandbox.server import ApiError, App, Request, Response
from sync_pipeline.sandbox.storage import DocStore
from sync_pipeline.sandbox.xero_where import WhereError, compile_where, get_path

API = "/api.xro/2.0"
PAGE_SIZE = 100

COLLECTIONS: dict[str, dict[str, str]] = {
    "Contacts": {"_updated": "TEXT", "ContactNumber": "TEXT", "Name": "TEXT"},
    "Invoices": {"_updated": "TEXT", "Reference": "TEXT", "InvoiceNumber": "TEXT", "Status": "TEXT"},
}
ID_FIELD = {"Contacts": "ContactID", "Invoices": "InvoiceID"}
INVOICE_STATUSES = {"DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED", "DELETED"}


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
        return Decimal(str(value))
    except InvalidOperation:
        errors.append(f"{field} must be a number")
        return None


def _parse_date(value: Any, field: str, errors: list[str]) -> date | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            pass
    errors.append(f"{field} must be a date in YYYY-MM-DD form")
    return None


class XeroSandbox(App):
    name = "xero"

    def __init__(self, db_path: str, *, client_id: str = "sandbox-client", client_secret: str = "sandbox-secret",
                 token_ttl: int = 1800, minute_limit: int = 60, day_limit: int = 5000,
                 concurrent_limit: int = 5) -> None:
        super().__init__()
        self.store = DocStore(db_path, COLLECTIONS)
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl = token_ttl
        self.minute = SlidingWindowLimiter(minute_limit, 60.0)
        self.day = SlidingWindowLimiter(day_limit, 86400.0)
        self.concurrent_limit = concurrent_limit
        self._inflight: dict[str, int] = {}
        self._inflight_lock = threading.Lock()
        self._tokens: dict[str, float] = {}
        self.router.add("POST", "/connect/token", self._token)
        self.router.add("GET", "/connections", self._connections)
        for coll in COLLECTIONS:
            self.router.add("GET", f"{API}/{coll}", self._lister(coll))
            self.router.add("GET", f"{API}/{coll}/(?P<id>[^/]+)", self._getter(coll))
            self.router.add("PUT", f"{API}/{coll}", self._writer(coll, create_only=True))
            self.router.add("POST", f"{API}/{coll}", self._writer(coll, create_only=False))
            self.router.add("POST", f"{API}/{coll}/(?P<id>[^/]+)", self._writer(coll, create_only=False))

    # -- tenants and auth -------------------------------------------------------------------
    def add_tenant(self, tenant_id: str, name: str, base_currency: str = "GBP") -> None:
        self.store.kv_put("tenants", tenant_id, {"tenantId": tenant_id, "tenantName": name,
                                                 "tenantType": "ORGANISATION", "baseCurrency": base_currency})

    def _token(self, req: Request) -> Response:
        auth = req.headers.get("authorization", "")
        ok = False
        if auth.lower().startswith("basic "):
            try:
                cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                ok = secrets.compare_digest(cid, self.client_id) and secrets.compare_digest(secret, self.client_secret)
            except (ValueError, UnicodeDecodeError):
                ok = False
        form = dict(p.split("=", 1) for p in req.body.decode().split("&") if "=" in p)
        if not ok or form.get("grant_type") != "client_credentials":
            raise ApiError(400, {"error": "invalid_client"} if not ok else {"error": "unsupported_grant_type"})
        token = secrets.token_urlsafe(32)
        self._tokens[token] = time.time() + self.token_ttl
        return Response(200, {"access_token": token, "expires_in": self.token_ttl, "token_type": "Bearer",
                              "scope": "accounting.transactions accounting.contacts"})

    def _connections(self, req: Request) -> Response:
        self._authenticate(req)
        tenants = self.store._conn().execute("SELECT v FROM kv WHERE ns = 'tenants'").fetchall()
        from sync_pipeline.contracts.codec import loads

        return Response(200, [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, loads(t[0])["tenantId"])), **loads(t[0])}
                              for t in tenants])

    def _authenticate(self, req: Request) -> None:
        auth = req.headers.get("authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        expiry = self._tokens.get(token)
        if expiry is None or expiry < time.time():
            raise ApiError(401, {"Type": None, "Title": "Unauthorized", "Status": 401,
                                 "Detail": "AuthenticationUnsuccessful"},
                           {"WWW-Authenticate": 'OAuth Realm="api.xero.com"'})

    def handle(self, req: Request) -> Response:
        if not req.path.startswith(API):
            return super().handle(req)
        self._authenticate(req)
        tenant = req.headers.get("xero-tenant-id", "")
        if not tenant or not self.store.kv_get("tenants", tenant):
            raise ApiError(403, {"Type": None, "Title": "Forbidden", "Status": 403,
                                 "Detail": "AuthorizationUnsuccessful"})
        req.params["tenant"] = tenant
        for limiter, name in ((self.minute, "Minute"), (self.day, "Daily")):
            wait = limiter.check(tenant)
            if wait is not None:
                raise ApiError(429, {"Title": "Too Many Requests", "Status": 429},
                               {"Retry-After": str(max(1, math.ceil(wait))), "X-Rate-Limit-Problem": name.lower()})
        with self._inflight_lock:
            if self._inflight.get(tenant, 0) >= self.concurrent_limit:
                raise ApiError(429, {"Title": "Too Many Requests", "Status": 429},
                               {"Retry-After": "1", "X-Rate-Limit-Problem": "concurrent"})
            self._inflight[tenant] = self._inflight.get(tenant, 0) + 1
        try:
            resp = super().handle(req)
        finally:
            with self._inflight_lock:
                self._inflight[tenant] -= 1
        resp.headers.setdefault("X-MinLimit-Remaining", str(self._remaining(self.minute, tenant)))
        resp.headers.setdefault("X-DayLimit-Remaining", str(self._remaining(self.day, tenant)))
        return resp

    @staticmethod
    def _remaining(limiter: SlidingWindowLimiter, key: str) -> int:
        q = limiter._hits.get(key)
        return max(0, limiter.limit - (len(q) if q else 0))

    def error_response(self, err: ApiError) -> Response:
        return Response(err.status, err.body, err.headers)

    def _envelope(self, coll: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        return {"Id": str(uuid.uuid4()), "Status": "OK", "ProviderName": "sync-pipeline sandbox",
                "DateTimeUTC": ms_date(utcnow()), coll: [self._public(i) for i in items]}

    @staticmethod
    def _public(doc: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in doc.items() if not k.startswith("_")}

    # -- reads ------------------------------------------------------------------------------
    def _lister(self, coll: str):
        def list_(req: Request) -> Response:
            tenant = req.params["tenant"]
            sql_where, args = "", []
            if (ims := req.headers.get("if-modified-since")) is not None:
                try:
                    since = parsedate_to_datetime(ims) if not ims[:4].isdigit() else datetime.fromisoformat(ims)
                except (TypeError, ValueError):
                    raise ApiError(400, {"Message": f"If-Modified-Since is not a date: {ims!r}"}) from None
                if since.tzinfo is None:
                    since = since.replace(tzinfo=UTC)
                sql_where, args = "_updated > ?", [since.astimezone(UTC).isoformat()]
            docs = self.store.query(coll, tenant, sql_where, args)
            if (where := req.arg("where")):
                try:
                    pred = compile_where(where)
                except WhereError as e:
                    raise ApiError(400, {"ErrorNumber": 16, "Type": "QueryParseException", "Message": str(e)}) from None
                docs = [d for d in docs if pred(d)]
            if coll == "Invoices":
                if (statuses := req.arg("Statuses")):
                    wanted = {s.strip().upper() for s in statuses.split(",")}
                    docs = [d for d in docs if d.get("Status") in wanted]
                if (numbers := req.arg("InvoiceNumbers")):
                    wanted = {s.strip() for s in numbers.split(",")}
                    docs = [d for d in docs if d.get("InvoiceNumber") in wanted]
            if (ids := req.arg("IDs")):
                wanted = {s.strip().lower() for s in ids.split(",")}
                docs = [d for d in docs if str(d.get(ID_FIELD[coll], "")).lower() in wanted]
            if (order := req.arg("order")):
                field, _, direction = order.strip().partition(" ")
                docs.sort(key=lambda d: (get_path(d, field.split(".")) is None, str(get_path(d, field.split(".")) or "")),
                          reverse=direction.strip().upper() == "DESC")
            page = req.arg("page")
            if page is not None:
                try:
                    p = max(1, int(page))
                except ValueError:
                    raise ApiError(400, {"Message": "page must be an integer"}) from None
                docs = docs[(p - 1) * PAGE_SIZE: p * PAGE_SIZE]
            return Response(200, self._envelope(coll, docs))

        return list_

    def _getter(self, coll: str):
        def get(req: Request) -> Response:
            key = req.params["id"]
            doc = self.store.get(coll, req.params["tenant"], key.lower())
            if doc is None and coll == "Invoices":
                found = self.store.query(coll, req.params["tenant"], "InvoiceNumber = ?", [key])
                doc = found[0] if found else None
            if doc is None:
                raise ApiError(404, {"Title": "Not Found", "Status": 404,
                                     "Detail": f"{coll[:-1]} {key} not found"})
            return Response(200, self._envelope(coll, [doc]))

        return get

    # -- writes -----------------------------------------------------------------------------
    def _writer(self, coll: str, create_only: bool):
        def write(req: Request) -> Response:
            tenant = req.params["tenant"]
            idem = req.headers.get("idempotency-key")
            body_hash = hashlib.sha256(req.method.encode() + req.path.encode() + req.body).hexdigest()
            if idem:
                prior = self.store.kv_get(f"idem:{tenant}", idem)
                if prior is not None:
                    if prior["hash"] != body_hash:
                        raise ApiError(400, {"ErrorNumber": 10, "Type": "ValidationException",
                                             "Message": "Idempotency-Key has already been used with a "
                                                        "different request"})
                    return Response(prior["status"], prior["body"], {"Idempotent-Replayed": "true"})
            payload = req.json() or {}
            items = payload.get(coll) if isinstance(payload, dict) else None
            if items is None and isinstance(payload, dict) and coll not in payload:
                items = [payload]  # single object form
            if not isinstance(items, list) or not items:
                raise ApiError(400, {"ErrorNumber": 14, "Type": "PostDataInvalidException",
                                     "Message": f"The request body must contain a non-empty {coll} array"})
            if req.params.get("id"):
                items = [{**items[0], ID_FIELD[coll]: req.params["id"]}]
            summarize = (req.arg("summarizeErrors") or "true").lower() != "false"
            with self.store.tx() as c:
                results = [self._apply(coll, tenant, item, create_only, c) for item in items]
                has_errors = any(r.get("HasErrors") for r in results)
                if summarize and has_errors:
                    status, body = 400, {
                        "ErrorNumber": 10, "Type": "ValidationException",
                        "Message": "A validation exception occurred",
                        "Elements": [r for r in results if r.get("HasErrors")],
                    }
                    c.execute("ROLLBACK")
                    c.execute("BEGIN IMMEDIATE")
                else:
                    status, body = 200, self._envelope(coll, results)
                if idem:
                    self.store.kv_put(f"idem:{tenant}", idem, {"hash": body_hash, "status": status, "body": body}, c)
            return Response(status, body)

        return write

    def _apply(self, coll: str, tenant: str, item: dict[str, Any], create_only: bool, c) -> dict[str, Any]:
        id_field = ID_FIELD[coll]
        existing = None
        if item.get(id_field):
            existing = self.store.get(coll, tenant, str(item[id_field]).lower())
            if existing is None:
                return {**item, "HasErrors": True, "StatusAttributeString": "ERROR",
                        "ValidationErrors": [{"Message": f"{coll[:-1]} {item[id_field]} could not be found"}]}
            if create_only:
                return {**item, "HasErrors": True, "StatusAttributeString": "ERROR",
                        "ValidationErrors": [{"Message": "PUT creates new documents; use POST to update"}]}
        build = self._build_contact if coll == "Contacts" else self._build_invoice
        doc, errors = build(tenant, item, existing, c)
        if errors:
            return {**item, "HasErrors": True, "StatusAttributeString": "ERROR",
                    "ValidationErrors": [{"Message": m} for m in errors]}
        now = utcnow()
        doc["UpdatedDateUTC"] = ms_date(now)
        doc["_updated"] = now.isoformat()
        doc["HasErrors"] = False
        doc["StatusAttributeString"] = "OK"
        self.store.put(coll, tenant, doc[id_field].lower(), doc, c)
        return doc

    def _build_contact(self, tenant: str, item: dict[str, Any], existing: dict[str, Any] | None, c):
        errors: list[str] = []
        doc = dict(existing or {})
        doc.update({k: v for k, v in item.items() if k not in ("ContactID",)})
        if not doc.get("Name"):
            errors.append("The contact name must be specified.")
        elif not existing:
            clash = self.store.query("Contacts", tenant, "Name = ?", [doc["Name"]])
            if clash:
                errors.append(f"The contact name {doc['Name']} is already assigned to another contact. "
                              "The contact name must be unique across all active contacts.")
        doc.setdefault("ContactID", str(uuid.uuid4()))
        doc.setdefault("ContactStatus", "ACTIVE")
        doc.setdefault("IsCustomer", True)
        return doc, errors

    def _build_invoice(self, tenant: str, item: dict[str, Any], existing: dict[str, Any] | None, c):
        errors: list[str] = []
        if existing and existing.get("Status") not in ("DRAFT", "SUBMITTED") and \
                set(item) - {"InvoiceID", "Status", "Reference"}:
            errors.append(f"Invoice not of valid status for modification (status {existing['Status']})")
            return {}, errors
        doc = dict(existing or {})
        doc.update({k: v for k, v in item.items() if k not in ("InvoiceID",)})
        if doc.get("Type") not in ("ACCREC", "ACCPAY"):
            errors.append("Invoice Type must be ACCREC or ACCPAY")
        status = str(doc.get("Status") or "DRAFT").upper()
        if status not in INVOICE_STATUSES:
            errors.append(f"Status {status} is not valid")
        doc["Status"] = status
        contact = doc.get("Contact") or {}
        cdoc = None
        if contact.get("ContactID"):
            cdoc = self.store.get("Contacts", tenant, str(contact["ContactID"]).lower())
        elif contact.get("ContactNumber"):
            found = self.store.query("Contacts", tenant, "ContactNumber = ?", [contact["ContactNumber"]])
            cdoc = found[0] if found else None
        if cdoc is None:
            errors.append("A Contact must be specified with a valid ContactID or ContactNumber")
        else:
            doc["Contact"] = {"ContactID": cdoc["ContactID"], "Name": cdoc["Name"],
                              "ContactNumber": cdoc.get("ContactNumber")}
        currency = doc.get("CurrencyCode") or "GBP"
        if currency not in MINOR_UNITS:
            errors.append(f"Currency code {currency} is not valid")
            currency = "GBP"
        doc["CurrencyCode"] = currency
        d = _parse_date(doc.get("Date"), "Date", errors) or utcnow().date()
        due = _parse_date(doc.get("DueDate"), "DueDate", errors) or (d + timedelta(days=30))
        doc["Date"], doc["DateString"] = ms_date(d), f"{d.isoformat()}T00:00:00"
        doc["DueDate"], doc["DueDateString"] = ms_date(due), f"{due.isoformat()}T00:00:00"
        lat = doc.get("LineAmountTypes") or "Exclusive"
        if lat not in ("Exclusive", "Inclusive", "NoTax"):
            errors.append("LineAmountTypes must be Exclusive, Inclusive or NoTax")
        doc["LineAmountTypes"] = lat
        lines = doc.get("LineItems") or []
        if not lines:
            errors.append("At least one line item is required")
        exp = Decimal(1).scaleb(-MINOR_UNITS.get(currency, 2))
        sub, tax = Decimal(0), Decimal(0)
        out_lines = []
        for n, li in enumerate(lines, start=1):
            qty = _dec(li.get("Quantity", 1), f"LineItems[{n}].Quantity", errors) or Decimal(0)
            unit = _dec(li.get("UnitAmount", 0), f"LineItems[{n}].UnitAmount", errors) or Decimal(0)
            computed = (qty * unit).quantize(exp, rounding=ROUND_HALF_UP)
            given = _dec(li.get("LineAmount"), f"LineItems[{n}].LineAmount", errors)
            if given is not None and given != computed:
                errors.append(f"Line {n}: the line total {given} does not match the quantity x unit amount "
                              f"{computed}")
            rate = self._tax_rate(tenant, li.get("TaxType"))
            if lat == "Exclusive":
                line_tax = (computed * rate / 100).quantize(exp, rounding=ROUND_HALF_UP)
            elif lat == "Inclusive":
                line_tax = (computed - computed / (1 + rate / 100)).quantize(exp, rounding=ROUND_HALF_UP)
            else:
                line_tax = Decimal(0)
            sub += computed if lat != "Inclusive" else computed - line_tax
            tax += line_tax
            out_lines.append({**li, "LineItemID": li.get("LineItemID") or str(uuid.uuid4()), "Quantity": qty,
                              "UnitAmount": unit, "LineAmount": computed, "TaxAmount": line_tax})
        doc["LineItems"] = out_lines
        doc["SubTotal"], doc["TotalTax"], doc["Total"] = sub, tax, sub + tax
        paid = Decimal(str(doc.get("AmountPaid") or 0))
        doc["AmountPaid"], doc["AmountDue"] = paid, sub + tax - paid
        doc.setdefault("InvoiceID", str(uuid.uuid4()))
        if not doc.get("InvoiceNumber") and not errors:
            doc["InvoiceNumber"] = f"INV-{self.store.next_value(f'invno:{tenant}', c):05d}"
        return doc, errors

    def _tax_rate(self, tenant: str, tax_type: str | None) -> Decimal:
        rates = {"OUTPUT2": Decimal("20"), "OUTPUT": Decimal("15"), "NONE": Decimal("0"),
                 "EXEMPTOUTPUT": Decimal("0"), "ZERORATEDOUTPUT": Decimal("0")}
        return rates.get((tax_type or "NONE").upper(), Decimal("0"))

    # -- direct reads for tests -------------------------------------------------------------
    def all(self, coll: str, tenant: str) -> list[dict[str, Any]]:
        return [self._public(d) for d in self.store.query(coll, tenant)]
