"""A QuickBooks Online Accounting API (v3) sandbox, as strict as the documented API.

Companies (realms) under ``/v3/company/{realmId}/``; OAuth 2.0 in ``qbo_oauth.py``; entities (Customer,
Item, Invoice, CreditMemo, Payment, Account, TaxCode, TaxRate, Term; CompanyInfo, Preferences) in
``qbo_entities.py`` and ``qbo_payments.py``; the query language in ``qbo_query.py``; batch and change data
capture in ``qbo_batch.py``; faults in ``qbo_faults.py``.

This module is the app: companies, authentication, ``minorversion``, limits (per company: 500 requests a
minute, 10 a second, 10 at a time, 40 batch requests a minute), routing, reads, and the write machinery
(``requestid`` replay, SyncToken checks, MetaData). State lives in SQLite (``DocStore``): companies, documents,
tokens and ``requestid`` answers survive a restart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sync_pipeline.contracts.codec import loads
from sync_pipeline.sandbox import qbo_query, qbo_reference
from sync_pipeline.sandbox.harvest import SlidingWindowLimiter
from sync_pipeline.sandbox.qbo_batch import BatchMixin
from sync_pipeline.sandbox.qbo_entities import ENTITY_PATHS, EntitiesMixin, cents
from sync_pipeline.sandbox.qbo_faults import (
    QboFault,
    authorization,
    fault_body,
    meta_time,
    not_found,
    qbo_time,
    throttled,
    utc_now,
    validation,
)
from sync_pipeline.sandbox.qbo_oauth import OAuthMixin
from sync_pipeline.sandbox.qbo_payments import PaymentsMixin
from sync_pipeline.sandbox.qbo_reference import Company
from sync_pipeline.sandbox.server import ApiError, App, FaultRule, Request, Response
from sync_pipeline.sandbox.storage import DocStore

API = "/v3/company"
LATEST_MINOR_VERSION = 75  # since 2025-08-01 versions 1-74 are ignored and served as 75 (Intuit, 2025-01-21)
REQUESTID_MAX = 50  # "a maximum of 50 characters for all operations except batch" (Intuit, RequestID post)
BATCH_REQUESTID_MAX = 36

ENTITIES = ("Customer", "Item", "Invoice", "CreditMemo", "Payment", "Deposit", "Account", "TaxCode", "TaxRate",
            "Term")


def _name_of(doc: dict[str, Any]) -> str | None:
    return doc.get("DisplayName") or doc.get("Name")


def _customer_of(doc: dict[str, Any]) -> str | None:
    ref = doc.get("CustomerRef")
    return str(ref["value"]) if isinstance(ref, dict) and ref.get("value") is not None else None


COLLECTIONS: dict[str, dict[str, Any]] = {
    e: {"_updated": "TEXT", "_deleted": "INTEGER", "DocNumber": "TEXT", "_name": ("TEXT", _name_of),
        "_customer": ("TEXT", _customer_of)}
    for e in ENTITIES
}
# query properties answered from an indexed column first (the rest of the WHERE is evaluated on what it finds)
INDEXED_PROPS = {"id": "id", "docnumber": "DocNumber", "displayname": "_name", "name": "_name",
                 "customerref": "_customer"}


class QboSandbox(OAuthMixin, EntitiesMixin, PaymentsMixin, BatchMixin, App):
    name = "qbo"

    def __init__(self, db_path: str, *, client_id: str = "sandbox-qbo-client",
                 client_secret: str = "sandbox-qbo-secret", access_ttl: int = 3600, refresh_ttl: int = 8726400,
                 refresh_rotate_after: float = 86400.0, refresh_grace: float = 0.0, minute_limit: int = 500,
                 second_limit: int = 10, concurrent_limit: int = 10, batch_minute_limit: int = 40,
                 batch_max_items: int = 30, minute_window: float = 60.0, second_window: float = 1.0,
                 cdc_lookback_days: int = 30, batch_isolation: bool = True) -> None:
        super().__init__()
        self.store = DocStore(db_path, COLLECTIONS)
        self.client_id, self.client_secret = client_id, client_secret
        self.access_ttl, self.refresh_ttl = access_ttl, refresh_ttl
        self.refresh_rotate_after, self.refresh_grace = refresh_rotate_after, refresh_grace
        self.minute = SlidingWindowLimiter(minute_limit, minute_window)
        self.second = SlidingWindowLimiter(second_limit, second_window)
        self.batch_minute = SlidingWindowLimiter(batch_minute_limit, minute_window)
        self.concurrent_limit = concurrent_limit
        self.batch_max_items = batch_max_items
        self.cdc_lookback_days = cdc_lookback_days
        self.base_url = "http://127.0.0.1"
        self._inflight: dict[str, int] = {}
        self._inflight_lock = threading.Lock()
        self._req_guard = threading.Lock()
        self._req_locks: dict[tuple[str, str], threading.Lock] = {}
        self._companies: dict[str, Company] = {}
        # Intuit: batch items "do not have visibility of earlier requests included from the same payload"
        self.batch_isolation = batch_isolation
        self._batch_hidden = threading.local()
        self._oauth_routes(self.router)
        realm = "(?P<realm>[^/]+)"
        for path, entity in ENTITY_PATHS.items():
            self.router.add("GET", f"{API}/{realm}/{path}/(?P<id>[^/]+)", self._reader(entity))
            self.router.add("POST", f"{API}/{realm}/{path}", self._writer(entity))
        self.router.add("GET", f"{API}/{realm}/query", self._query)
        self.router.add("POST", f"{API}/{realm}/query", self._query)
        self.router.add("POST", f"{API}/{realm}/batch", self._batch)
        self.router.add("GET", f"{API}/{realm}/cdc", self._cdc)
        self.router.add("GET", f"{API}/{realm}/companyinfo/(?P<id>[^/]+)", self._company_info)
        self.router.add("GET", f"{API}/{realm}/preferences", self._preferences)
        self.router.add("POST", f"{API}/{realm}/preferences", self._update_preferences)

    # -- companies --------------------------------------------------------------------------------------------
    def add_company(self, realm: str, name: str, *, country: str = "US", home_currency: str | None = None,
                    multicurrency: bool = False, custom_txn_numbers: bool = False) -> Company:
        """Register a company (realm); a new one gets accounts, tax codes and rates, and terms."""
        if country not in ("US", "GB"):
            raise ValueError(f"country must be 'US' (US sales tax) or 'GB' (non-US VAT model), got {country!r}")
        company = Company(realm, name, country, home_currency or ("USD" if country == "US" else "GBP"),
                          multicurrency, custom_txn_numbers)
        known = self.company(realm)
        self.store.kv_put("qbo-companies", realm, company.as_dict())
        self._companies[realm] = company
        if known is None:
            self.store.kv_put("qbo-companies-meta", realm, {"created": meta_time(utc_now())})
            self._seed(company)
        return company

    def company(self, realm: str) -> Company | None:
        c = self._companies.get(realm)
        if c is None:
            raw = self.store.kv_get("qbo-companies", realm)
            if raw is not None:
                c = self._companies[realm] = Company(**raw)
        return c

    def realms(self) -> list[Company]:
        rows = self.store._conn().execute("SELECT k FROM kv WHERE ns = 'qbo-companies' ORDER BY k").fetchall()
        return [c for (k,) in rows if (c := self.company(k)) is not None]

    def _seed(self, company: Company) -> None:
        with self.store.tx() as c:
            for entity, docs in qbo_reference.seed_documents(company).items():
                for doc in docs:
                    if entity == "TaxCode":  # rates are referenced by id
                        for d in doc["SalesTaxRateList"]["TaxRateDetail"]:
                            rate = self._by_name("TaxRate", company.realm, d.pop("TaxRateName"), c)
                            d["TaxRateRef"] = {"value": rate["Id"], "name": rate["Name"]}
                    self.save(entity, company.realm, doc, c, created=True)
            if company.us:  # the pseudo codes a US sales line carries
                for code, taxable in (("TAX", True), ("NON", False)):
                    self.save("TaxCode", company.realm, {"Id": code, "Name": code, "Description": code,
                                                         "Active": True, "Taxable": taxable, "TaxGroup": False},
                              c, created=True)

    def _by_name(self, entity: str, realm: str, name: str, c: Any = None) -> dict[str, Any]:
        conn = c or self.store._conn()
        row = conn.execute(f"SELECT doc FROM {entity} WHERE tenant = ? AND _name = ? AND _deleted = 0",
                           (realm, name)).fetchone()
        return loads(row[0]) if row else {}

    # -- documents ----------------------------------------------------------------------------------------------
    def hidden(self) -> set[tuple[str, str]]:
        """What earlier items of the batch being run created: invisible to the later items."""
        return getattr(self._batch_hidden, "ids", None) or set()

    def get(self, entity: str, realm: str, entity_id: str) -> dict[str, Any] | None:
        doc = self.store.get(entity, realm, str(entity_id))
        if doc is None or doc.get("_deleted") or (entity, str(entity_id)) in self.hidden():
            return None
        return doc

    def must_get(self, entity: str, realm: str, entity_id: Any) -> dict[str, Any]:
        doc = self.get(entity, realm, str(entity_id))
        if doc is None:
            raise not_found(entity, str(entity_id))
        return doc

    def live(self, entity: str, realm: str) -> list[dict[str, Any]]:
        hidden = self.hidden()
        return [d for d in self.store.query(entity, realm, "_deleted = 0") if (entity, d["Id"]) not in hidden]

    def next_id(self, entity: str, realm: str, c: Any) -> str:
        return str(self.store.next_value(f"qbo-id:{realm}:{entity}", c))

    def save(self, entity: str, realm: str, doc: dict[str, Any], c: Any, *, created: bool) -> dict[str, Any]:
        now = utc_now()
        if created:
            doc.setdefault("Id", self.next_id(entity, realm, c))
            doc["SyncToken"] = "0"
            doc["MetaData"] = {"CreateTime": meta_time(now), "LastUpdatedTime": meta_time(now)}
        else:
            doc["SyncToken"] = str(int(doc.get("SyncToken") or 0) + 1)
            doc["MetaData"] = {**doc.get("MetaData", {}), "LastUpdatedTime": meta_time(now)}
        doc["domain"], doc["sparse"] = "QBO", False
        doc["_updated"] = now.isoformat(timespec="microseconds")
        doc["_deleted"] = False
        self.store.put(entity, realm, str(doc["Id"]), doc, c)
        return doc

    def tombstone(self, entity: str, realm: str, doc: dict[str, Any], c: Any) -> dict[str, Any]:
        """Delete: the document is gone for reads and queries; change data capture reports it ``Deleted``."""
        now = utc_now()
        gone = {**doc, "_deleted": True, "_updated": now.isoformat(timespec="microseconds"),
                "MetaData": {**doc.get("MetaData", {}), "LastUpdatedTime": meta_time(now)}}
        self.store.put(entity, realm, str(doc["Id"]), gone, c)
        return {"domain": "QBO", "status": "Deleted", "Id": str(doc["Id"])}

    @staticmethod
    def public(doc: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in doc.items() if not k.startswith("_")}

    # -- request pipeline -----------------------------------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        if not req.path.startswith(API + "/"):
            return super().handle(req)
        realm = req.path[len(API) + 1:].split("/", 1)[0]
        token_realm = self.authenticated_realm(req)
        if token_realm != realm or self.company(realm) is None:
            raise authorization(f"the access token is not authorized for company {realm}")
        self._minor_version(req)
        wait = self.second.check(realm) or self.minute.check(realm)
        if wait is None and req.path.rstrip("/").endswith("/batch") and req.method == "POST":
            wait = self.batch_minute.check(realm)
        if wait is not None:
            raise throttled()
        with self._inflight_lock:
            if self._inflight.get(realm, 0) >= self.concurrent_limit:
                raise throttled()
            self._inflight[realm] = self._inflight.get(realm, 0) + 1
        try:
            if "json" not in req.headers.get("accept", "").lower():
                # QBO answers XML unless asked for JSON; the sandbox speaks JSON only, so it says so instead of
                # answering JSON to a request that production would answer in XML
                raise validation("Send 'Accept: application/json': without it QuickBooks Online answers in XML, "
                                 "which the sandbox does not serve", "Accept")
            if self.router.resolve(req.method, req.path) is None:
                raise QboFault(400, [{"Message": "Unsupported Operation", "Detail": f"Operation Could not find "
                                      f"resource for relative : {req.path} is not supported.", "code": "500",
                                      "element": ""}])
            if req.method == "POST" and req.arg("requestid") is not None:
                return self._replayable(req, realm)
            return super().handle(req)
        finally:
            with self._inflight_lock:
                self._inflight[realm] -= 1

    @staticmethod
    def _minor_version(req: Request) -> None:
        raw = req.arg("minorversion")
        if raw is None:
            return
        if not raw.strip().isdigit():
            raise validation(f"minorversion must be a whole number, got {raw!r} (the latest is "
                             f"{LATEST_MINOR_VERSION})", "minorversion")
        # 1-74 are accepted and answered as 75 (Intuit, 2025-01-21); the sandbox serves one schema: 75

    def _replayable(self, req: Request, realm: str) -> Response:
        """``requestid``: the same id in the same company gets the first answer again, with no new change."""
        rid = req.arg("requestid") or ""
        limit = BATCH_REQUESTID_MAX if req.path.rstrip("/").endswith("/batch") else REQUESTID_MAX
        if len(rid) > limit:
            raise validation(f"You cannot enter more than {limit} characters in the request_id field. You tried "
                             f"entering {rid[:10]}..., which is {len(rid)} characters.", "requestid")
        with self._req_guard:
            lock = self._req_locks.setdefault((realm, rid), threading.Lock())
        with lock:  # a duplicate arriving while the first is still running waits for its answer
            prior = self.store.kv_get(f"qbo-req:{realm}", rid)
            if prior is not None:
                return Response(prior["status"], prior["body"])
            try:
                resp = super().handle(req)
            except QboFault as f:
                if f.status >= 500:
                    raise
                resp = Response(f.status, f.body, f.headers)
            self.store.kv_put(f"qbo-req:{realm}", rid, {"status": resp.status, "body": resp.body})
            return resp

    def injected_fault(self, fault: FaultRule) -> Response | None:
        """Injected faults answer like QBO: 429 ThrottleExceeded (no Retry-After, as documented), 500/503 a
        SystemFault (code 10000, "An application error has occurred while processing your request")."""
        if fault.kind == "429":
            t = throttled()
            return Response(429, t.body)
        body = fault_body([{"Message": "An application error has occurred while processing your request",
                            "Detail": f"System Failure Error: injected {fault.kind}", "code": "10000",
                            "element": ""}], "SystemFault")
        return Response(int(fault.kind), body, {"Retry-After": str(fault.retry_after)} if fault.kind == "503"
                        else {})

    def error_response(self, err: ApiError) -> Response:
        if isinstance(err, QboFault) or not isinstance(err.body, dict) or "error" in err.body:
            return Response(err.status, err.body, err.headers)
        return Response(err.status, fault_body([{"Message": str(err.body.get("message", err.body)), "Detail": "",
                                                 "code": "10000", "element": ""}], "SystemFault"), err.headers)

    # -- reads --------------------------------------------------------------------------------------------------
    def envelope(self, entity: str, doc: dict[str, Any]) -> dict[str, Any]:
        return {entity: self.public(doc), "time": qbo_time()}

    def _reader(self, entity: str) -> Callable[[Request], Response]:
        def read(req: Request) -> Response:
            doc = self.must_get(entity, req.params["realm"], req.params["id"])
            return Response(200, self.envelope(entity, self.present(entity, req.params["realm"], doc)))

        return read

    def _company_info(self, req: Request) -> Response:
        company = self.company(req.params["realm"])
        if req.params["id"] != company.realm:
            raise not_found("CompanyInfo", req.params["id"])
        return Response(200, self.envelope("CompanyInfo", self._settings_doc("CompanyInfo", company)))

    def _preferences(self, req: Request) -> Response:
        company = self.company(req.params["realm"])
        return Response(200, self.envelope("Preferences", self._settings_doc("Preferences", company)))

    def _update_preferences(self, req: Request) -> Response:
        """Sparse update of ``SalesFormsPrefs.CustomTxnNumbers`` and ``CurrencyPrefs.MultiCurrencyEnabled``
        (which cannot be turned off again, as in QBO); other preferences are read-only in the sandbox."""
        company = self.company(req.params["realm"])
        try:
            body = loads(req.body) or {}
        except ValueError:
            body = {}
        current = self._settings_doc("Preferences", company)
        if str(body.get("SyncToken")) != current["SyncToken"]:
            from sync_pipeline.sandbox.qbo_faults import stale

            raise stale("Preferences", "1")
        sales = body.get("SalesFormsPrefs") or {}
        money = body.get("CurrencyPrefs") or {}
        custom = sales.get("CustomTxnNumbers", company.custom_txn_numbers)
        multi = money.get("MultiCurrencyEnabled", company.multicurrency)
        if company.multicurrency and multi is False:
            raise validation("Multicurrency cannot be turned off once it is on", "MultiCurrencyEnabled")
        updated = self.add_company(company.realm, company.name, country=company.country,
                                   home_currency=company.home_currency, multicurrency=bool(multi),
                                   custom_txn_numbers=bool(custom))
        stamp = self.store.kv_get("qbo-companies-meta", company.realm) or {}
        self.store.kv_put("qbo-companies-meta", company.realm,
                          {**stamp, "sync": int(stamp.get("sync", 0)) + 1, "updated": meta_time(utc_now())})
        return Response(200, self.envelope("Preferences", self._settings_doc("Preferences", updated)))

    def _settings_doc(self, entity: str, company: Company) -> dict[str, Any]:
        doc = (qbo_reference.company_info if entity == "CompanyInfo" else qbo_reference.preferences)(company)
        stamp = self.store.kv_get("qbo-companies-meta", company.realm) or {}
        sync = str(stamp.get("sync", 0)) if entity == "Preferences" else "0"
        return {**doc, "SyncToken": sync, "MetaData": {"CreateTime": stamp.get("created", ""),
                                                       "LastUpdatedTime": stamp.get("updated") or
                                                       stamp.get("created", "")}}

    def query_text(self, req: Request) -> str | None:
        q = req.arg("query")
        if q is None and req.method == "POST":  # python-quickbooks posts the statement as application/text
            q = req.body.decode("utf-8", "replace")
        return q

    def _query(self, req: Request) -> Response:
        return Response(200, {"QueryResponse": self.run_query(req.params["realm"], self.query_text(req)),
                              "time": qbo_time()})

    def run_query(self, realm: str, text: str | None) -> dict[str, Any]:
        q = qbo_query.parse(text)
        if q.entity in ("CompanyInfo", "Preferences"):
            docs = [self._settings_doc(q.entity, self.company(realm))]
        else:
            docs = self._candidates(realm, q)
            if q.entity == "Customer":
                wants_balance = any(p.lower() == "balance" for p in [c.prop for c in q.where] +
                                    [p for p, _ in q.order])
                if wants_balance:
                    balances = self.customer_balances(realm)
                    docs = [self.present("Customer", realm, d, balances) for d in docs]
        page, total = qbo_query.run(q, docs)
        if q.entity == "Customer" and not q.count:
            balances = self.customer_balances(realm) if len(page) > 20 else None  # one pass for a big page
            page = [self.present("Customer", realm, d, balances) for d in page]
        if q.count:
            return {"totalCount": total}
        if not page:
            return {}
        return {q.entity: [self.public(d) for d in page], "startPosition": q.start, "maxResults": len(page)}

    def _candidates(self, realm: str, q: qbo_query.Query) -> list[dict[str, Any]]:
        """The live documents a query can match: = and IN on Id, DocNumber, names and CustomerRef narrow them
        through an indexed column; every condition is still evaluated on what comes back."""
        sql, args = ["_deleted = 0"], []
        for c in q.where:
            col = INDEXED_PROPS.get(c.prop.lower())
            if col and c.op in ("=", "in") and all(isinstance(v, str) for v in c.values):
                sql.append(f"{col} IN ({', '.join('?' * len(c.values))})")
                args.extend(c.values)
        hidden = self.hidden()
        return [d for d in self.store.query(q.entity, realm, " AND ".join(sql), args)
                if (q.entity, d["Id"]) not in hidden]

    def present(self, entity: str, realm: str, doc: dict[str, Any],
                balances: dict[str, Any] | None = None) -> dict[str, Any]:
        """A document as read: computed fields (a Customer's Balance) are filled in here."""
        if entity == "Customer":
            balance = (balances or {}).get(doc["Id"]) if balances is not None else \
                self.customer_balance(realm, doc["Id"])
            return {**doc, "Balance": cents(balance or 0)}
        return doc

    # -- Python API -----------------------------------------------------------------------------------------------
    def all(self, entity: str, realm: str) -> list[dict[str, Any]]:
        return [self.public(self.present(entity, realm, d)) for d in self.live(entity, realm)]

    def query_one(self, realm: str, text: str) -> dict[str, Any]:
        """The first document a query selects (seeding, tests); KeyError if none."""
        got = self.run_query(realm, text)
        entity = next(k for k in got if k not in ("startPosition", "maxResults", "totalCount"))
        return got[entity][0]

    def create(self, entity: str, realm: str, body: dict[str, Any], **params: str) -> dict[str, Any]:
        """Create without HTTP (seeding): the same validation and side effects as ``POST``."""
        return self.write(entity, realm, dict(body), params)[entity]


def parse_iso(value: str) -> datetime | None:
    return qbo_query._instant(value)
